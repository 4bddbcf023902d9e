"""The commands load data to fit the model: folder images at the model's size and
normalization, built-in data normalized for a model that expects it (issue #10)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from neuronscope.cli import build_parser, main
from neuronscope.commands.common import load
from neuronscope.commands.inputs import load_data
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.loaders import IMAGENET_MEAN, IMAGENET_STD
from neuronscope.core.model import save_weights
from neuronscope.core.spec import input_spec

NETS = """
import torch
from torch import nn
from neuronscope.core.loaders import imagenet_spec
from neuronscope.core.spec import InputSpec

def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 8))

def imagenet():
    return _net(), imagenet_spec([str(i) for i in range(8)])

def bare():
    return _net()

def halves():
    return _net(), InputSpec(shape=(3, 64, 64), mean=(0.5,) * 3, std=(0.25,) * 3)

def chars32():  # a character model that reads windows of 32
    from neuronscope.data.pysource import VOCAB
    return nn.Sequential(nn.Embedding(len(VOCAB), 4)), InputSpec(shape=(32,), kind="text",
                                                                 vocab=VOCAB)

def tagged():  # an ImageNet-style model of 8 classes with WordNet ids
    spec = imagenet_spec([f"class{i}" for i in range(8)])
    spec.extra["wnids"] = [f"n0000000{i}" for i in range(8)]
    return _net(), spec
"""


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fit")
    (root / "nets.py").write_text(textwrap.dedent(NETS))
    for name, color in {"red": (255, 0, 0), "green": (0, 255, 0)}.items():
        (root / "pics" / name).mkdir(parents=True)
        for k in range(5):
            Image.new("RGB", (300, 260), color).save(root / "pics" / name / f"{k}.png")
    return root


def fitted(argv: list[str]) -> tuple[torch.nn.Module, object]:
    args = build_parser().parse_args(argv)
    model = load(args, need_spec=False)
    return model, load_data(args, model)


def test_character_text_comes_in_windows_of_the_model_length(where: Path) -> None:
    _, ds = fitted(["atlas", f"{where}/nets.py:chars32", "--data", "pysource"])
    x, y = ds[0]
    assert x.shape == y.shape == (32,)


def test_folder_data_take_size_and_normalization_from_the_model(where: Path) -> None:
    model, ds = fitted(["atlas", f"{where}/nets.py:imagenet", "--data",
                        f"folder:{where}/pics", "--split", "all"])
    x, label = ds[len(ds) - 1]
    assert ds.classes[label] == "red"
    assert x.shape == (3, 224, 224) and ds.spec.mean == IMAGENET_MEAN
    red = (torch.tensor([1.0, 0, 0]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[:, 100, 100], red, atol=1e-5)
    assert input_spec(model).shape == (3, 224, 224)


def test_options_override_or_stand_in_for_the_spec(where: Path) -> None:
    model, ds = fitted(["examples", f"{where}/nets.py:imagenet", "--data",
                        f"folder:{where}/pics", "--image-size", "32", "--mean", "0.5",
                        "--std", "0.5,0.25,0.5"])
    x, label = ds[0]
    assert ds.classes[label] == "green"
    assert x.shape == (3, 32, 32) and torch.allclose(x[:, 5, 5], torch.tensor([-1.0, 2, -1]))
    assert input_spec(model).std == (0.5, 0.25, 0.5)  # feature visualization agrees
    model, ds = fitted(["examples", f"{where}/nets.py:bare", "--data", f"folder:{where}/pics",
                        "--image-size", "40", "--mean", "0.5", "--std", "0.5"])
    spec = input_spec(model)
    assert spec.shape == (3, 40, 40) and spec.mean == (0.5,) * 3
    with pytest.raises(NeuronscopeError, match="--mean and --std together"):
        fitted(["examples", f"{where}/nets.py:bare", "--data", "shapes", "--mean", "0.5"])
    with pytest.raises(NeuronscopeError, match="--image-size applies to folder"):
        fitted(["examples", f"{where}/nets.py:bare", "--data", "shapes", "--image-size", "9"])


def test_builtin_data_are_normalized_for_a_normalizing_model(
    where: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from neuronscope import data

    _, ds = fitted(["ablate", f"{where}/nets.py:halves", "--data", "shapes", "--layer", "1"])
    raw, label = data.load("shapes", split="test")[3]
    x, same = ds[3]
    assert same == label and torch.allclose(x, (raw - 0.5) / 0.25)
    assert ds.spec.mean == (0.5,) * 3 and ds.classes == data.load("shapes").classes
    assert "normalizing it with mean 0.5,0.5,0.5" in capsys.readouterr().out


def test_a_size_other_than_the_spec_runs_with_a_warning(
    where: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, ds = fitted(["atlas", f"{where}/nets.py:imagenet", "--data", "shapes"])
    assert ds[0][0].shape == (3, 64, 64)
    assert "gives inputs of 3x64x64" in caplog.text and "says 3x224x224" in caplog.text


def test_atlas_prints_a_serve_line_with_weights_and_input_shape(
    where: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = where / "bare.safetensors"
    from neuronscope.core.model import load_model

    save_weights(load_model(f"{where}/nets.py:bare"), weights)
    out = where / "my atlas"
    assert main(["atlas", f"{where}/nets.py:bare", "--weights", str(weights), "--input-shape",
                 "3,32,32", "--data", f"folder:{where}/pics", "--split", "all", "--sections",
                 "examples", "--k", "2", "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (f"browse it: neuronscope serve '{out}' --model {where}/nets.py:bare "
                    f"--weights {weights} --input-shape 3,32,32")


def test_photos_come_at_the_models_size_and_normalization(where: Path) -> None:
    from neuronscope.data.photos import photo

    model, ds = fitted(["examples", f"{where}/nets.py:imagenet", "--data", "photos"])
    x, label = ds[4]
    assert ds.names[label] == "chelsea" and x.shape == (3, 224, 224)
    assert torch.allclose(x, input_spec(model).to_model(photo("chelsea", 224)[None])[0],
                          atol=1e-6)
    _, ds = fitted(["examples", f"{where}/nets.py:imagenet", "--data", "photos",
                    "--image-size", "32", "--mean", "0.5", "--std", "0.5"])
    assert ds.spec.shape == (3, 32, 32) and torch.allclose(ds[4][0], photo("chelsea", 32) * 2 - 1)


def test_wnid_folders_get_the_models_class_indices(
    where: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = where / "val"
    for wnid, color in {"n00000006": (9, 9, 9), "n00000003": (90, 90, 90)}.items():
        (root / wnid).mkdir(parents=True)
        for k in range(2):
            Image.new("RGB", (30, 30), color).save(root / wnid / f"{k}.png")
    _, ds = fitted(["ablate", f"{where}/nets.py:tagged", "--data", f"folder:{root}",
                    "--split", "all", "--layer", "1"])
    assert ds.labels.tolist() == [3, 3, 6, 6] and ds.classes[6] == "class6"
    (root / "extra").mkdir()
    Image.new("RGB", (30, 30)).save(root / "extra" / "0.png")
    assert main(["ablate", f"{where}/nets.py:tagged", "--data", f"folder:{root}", "--split",
                 "all", "--layer", "1"]) == 2
    assert "2 of the 3 class subfolders" in capsys.readouterr().err


def test_an_atlas_records_how_to_load_its_data_again(
    where: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neuronscope.atlas.ondemand import UnitComputer
    from neuronscope.atlas.store import AtlasStore
    from neuronscope.commands.inputs import source_loader

    monkeypatch.chdir(where)  # a folder given by a relative path
    out = where / "recorded"
    assert main(["atlas", "nets.py:bare", "--data", "folder:pics", "--split", "all",
                 "--image-size", "32", "--mean", "0.5", "--std", "0.5,0.25,0.5",
                 "--sections", "weights", "--out", str(out)]) == 0
    store = AtlasStore(out)
    source = store.manifest["data"]["source"]
    assert source == {"data": f"folder:{where.resolve()}/pics", "split": "all",
                      "image_size": 32, "mean": [0.5], "std": [0.5, 0.25, 0.5]}
    monkeypatch.chdir("/")  # the server may run anywhere
    model = load(build_parser().parse_args(["atlas", f"{where}/nets.py:bare", "--data", "x"]),
                 need_spec=False)
    UnitComputer(model, store, source_loader(source, "nets.py:bare"), k=2).compute(
        "examples", "0", 1)  # the same data, checked against the atlas's record
    units = store.read_json(store.units_json("0", "examples"))
    assert units["count"] == 10 and len(units["units"][1]["top"]) == 2
    served: list = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: served.append(app))
    assert main(["serve", str(out), "--model", f"{where}/nets.py:bare"]) == 0  # no shape given
    scope = served[0].state.microscope
    assert scope.probe is not None and "examples" in scope.computes  # the atlas's shape, data
