import torch
from torch import nn

from neuronscope.core.layers import default_layers, layer_table, layers
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


class _Permute(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class _ActFirst(nn.Module):
    """The activation is registered before the Conv1d it follows."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.conv = nn.Conv1d(4, 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


def test_unit_axis_follows_the_module_that_made_the_output() -> None:
    x = torch.randn(2, 4, 50)
    block = by_name(nn.Sequential(nn.Sequential(nn.Conv1d(4, 16, 3), nn.ReLU())), x)
    assert block["0"].n_units == 16 and block["0.1"].n_units == 16
    assert by_name(_ActFirst(), x)["act"].n_units == 16
    channels_last = nn.Sequential(nn.Conv2d(3, 8, 1), _Permute(), nn.Linear(8, 32), nn.GELU())
    info = by_name(channels_last, torch.randn(1, 3, 5, 5))
    assert info["2"].n_units == 32 and info["2"].unit_axis == 3
    assert info["3"].n_units == 32  # the activation after it too


def test_example_input_takes_the_model_dtype() -> None:
    model = attach_spec(nn.Sequential(nn.Conv2d(3, 4, 3)).double(), InputSpec(shape=(3, 8, 8)))
    assert layers(model)[0].shape == (4, 6, 6)


def test_layers_after_a_time_first_rnn_are_left_out_of_the_defaults() -> None:
    class TimeFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.rnn, self.out = nn.Embedding(10, 4), nn.LSTM(4, 6), nn.Linear(6, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T], time-first inside
            z, _ = self.rnn(self.emb(x).transpose(0, 1))
            return self.out(z).transpose(0, 1)

    m = TimeFirst()
    table = layer_table(m, torch.zeros(2, 7, dtype=torch.long))
    chosen, left = default_layers(m, table)
    assert chosen == [] and table["out"].lead == (7, 2) and table["emb"].lead is None
    assert "first axis has 7, not the traced batch of 2" in left["out"]
