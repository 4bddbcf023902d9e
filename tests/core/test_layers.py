import torch
from torch import nn

from neuronscope.core.layers import layers
from neuronscope.core.spec import InputSpec, attach_spec

from .models import ResNet, Shared, TupleNet


def by_name(model: nn.Module, x: object) -> dict:
    return {info.name: info for info in layers(model, x)}


def test_resnet_layers_and_units() -> None:
    model = ResNet().train()
    running = model.layer1[0].bn1.running_mean.clone()
    infos = by_name(model, torch.randn(2, 3, 8, 8))
    assert infos["stem"].kind == "conv" and infos["stem"].shape == (4, 8, 8)
    assert infos["stem"].n_units == 4
    assert infos["layer1"].kind == "block"
    assert infos["fc"].shape == (3,) and infos["fc"].n_units == 3
    assert infos["relu"].calls == 1 and infos["layer1.0.relu"].calls == 2
    # listing layers leaves the model as it was
    assert model.training and torch.equal(model.layer1[0].bn1.running_mean, running)
    names = list(infos)
    assert names.index("stem") < names.index("layer1.0.conv1") < names.index("fc")


def test_shared_and_tuple_outputs() -> None:
    assert by_name(Shared(), torch.randn(1, 4))["shared"].calls == 2
    infos = by_name(TupleNet(), torch.randn(1, 4))
    assert {"heads[0]", "heads[1][logits]", "heads[1][hidden]"} <= set(infos)
    assert "heads" not in infos
    assert infos["heads[1][logits]"].n_units == 2


def test_sequence_layouts() -> None:
    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.rnn = nn.GRU(4, 6, batch_first=True)
            self.conv = nn.Conv1d(6, 5, 3)
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, _ = self.rnn(self.emb(x))
            return self.act(self.conv(h.transpose(1, 2)))

    infos = by_name(Seq(), torch.zeros(2, 7, dtype=torch.long))
    assert infos["rnn[0]"].n_units == 6 and infos["rnn[0]"].unit_axis == 2
    assert infos["conv"].n_units == 5 and infos["conv"].unit_axis == 1
    assert infos["act"].n_units == 5  # follows the Conv1d before it


def test_example_from_input_spec() -> None:
    model = attach_spec(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), InputSpec((3, 2, 2)))
    assert [i.name for i in layers(model)] == ["0", "1"]
