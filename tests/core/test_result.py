"""Every result type saves and loads through one code path, and refuses, with an error
that names what was expected, a file of another type, of a newer version, a truncated
file, a damaged one and one that is not a result at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import TensorDataset

import neuronscope as ns
from neuronscope.core.result import Result
from neuronscope.core.spec import attach_spec
from neuronscope.data.pysource import VOCAB
from neuronscope.zoo.charlm import char_lstm


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def _data() -> TensorDataset:
    return TensorDataset(torch.rand(8, 3, 8, 8), torch.arange(8) % 2)


MAKERS: dict[str, Callable[[], Result]] = {
    "TopExamples": lambda: ns.top_examples(_model(), _data(), ["1"], k=2, progress=False),
    "Visualization": lambda: ns.visualize(_model(), "1:0", size=8, steps=1, progress=False),
    "AblationStudy": lambda: ns.ablation_study(_model(), _data(), "1", fractions=3, repeats=1,
                                               progress=False),
    "UnitSweep": lambda: ns.unit_sweep(_model(), _data(), "1", progress=False),
    "ClassSelectivity": lambda: ns.class_selectivity(_model(), _data(), "1", progress=False),
    "Projection": lambda: ns.project(_model(), torch.rand(1, 3, 8, 8), "1:0"),
    "ReceptiveField": lambda: ns.receptive_field(_model(), "1", torch.rand(1, 3, 8, 8)),
    "Dissection": lambda: ns.dissect(_model()[:2], ns.datasets.load(
        "shapes", n=6, masks=True, size=16), "1", progress=False),
    "Dream": lambda: ns.deepdream(_model(), torch.rand(3, 8, 8), "1", octaves=1, steps=1,
                                  progress=False),
    "Inversion": lambda: ns.invert(_model(), torch.rand(1, 3, 8, 8), "1", steps=2,
                                   progress=False),
    "Fooling": lambda: ns.fooling_images(attach_spec(_model(), ns.InputSpec(shape=(3, 8, 8))),
                                         [0], budget=2, progress=False),
    "Evolution": lambda: ns.evolve(lambda x: x.mean((1, 2, 3)), shape=(3, 8, 8), budget=40,
                                   progress=False),
    "LCAResult": lambda: _lca(),
    "CellExplanation": lambda: ns.explain_cells(char_lstm(98, embed=4, hidden=6),
                                                "x = ('a', 1)  # c\n", vocab=VOCAB,
                                                progress=False),
    "TextProbe": lambda: ns.probe_text(attach_spec(
        char_lstm(len(VOCAB), embed=4, hidden=6),
        ns.InputSpec(shape=(8,), kind="text", vocab=VOCAB)), "ab\u00e9", "lstm.c", unit=1),
}


def _lca() -> ns.LCAResult:
    model, (x, y) = _model(), _data().tensors
    loss = lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1])  # noqa: E731
    lca = ns.LCA(model, loss, [(x, y)])
    opt = lca.wrap(torch.optim.SGD(model.parameters(), lr=0.1))
    for _ in range(2):
        opt.zero_grad()
        loss(model, (x, y)).backward()
        opt.step()
    return lca.result()


def test_every_public_result_type_is_in_the_table() -> None:
    public = {name for name in ns.__all__ if isinstance(getattr(ns, name), type)
              and issubclass(getattr(ns, name), Result) and getattr(ns, name) is not Result}
    assert public == set(MAKERS)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("results")
    return {name: make().save(folder / f"{name}.safetensors") for name, make in MAKERS.items()}


@pytest.mark.parametrize("name", list(MAKERS))
def test_round_trip(name: str, files: dict[str, Path]) -> None:
    cls = getattr(ns, name)
    loaded = cls.load(files[name])
    again = cls.load(loaded.save(files[name].with_suffix(".again")))
    t1, m1 = loaded._encode()
    t2, m2 = again._encode()
    assert t1.keys() == t2.keys() and str(m1) == str(m2)  # str: NaN != NaN in dicts
    assert all(torch.equal(t1[k].nan_to_num(7.5), t2[k].nan_to_num(7.5)) for k in t1)


@pytest.mark.parametrize("name", list(MAKERS))
def test_a_file_of_another_type_is_refused(name: str, files: dict[str, Path]) -> None:
    other = next(n for n in MAKERS if n != name)
    expected = getattr(ns, name).FORMAT
    with pytest.raises(ns.ResultFileError) as info:
        getattr(ns, name).load(files[other])
    assert expected in str(info.value) and getattr(ns, other).FORMAT in str(info.value)
    assert isinstance(info.value, ns.NeuronscopeError)


@pytest.mark.parametrize("name", list(MAKERS))
def test_a_newer_version_is_refused(name: str, files: dict[str, Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cls = getattr(ns, name)
    result = cls.load(files[name])
    monkeypatch.setattr(cls, "VERSION", cls.VERSION + 1)
    newer = result.save(tmp_path / "newer.safetensors")
    monkeypatch.setattr(cls, "VERSION", cls.VERSION - 1)
    with pytest.raises(ns.ResultFileError, match="newer") as info:
        cls.load(newer)
    assert cls.FORMAT in str(info.value) and f"up to {cls.VERSION}" in str(info.value)


@pytest.mark.parametrize("name", list(MAKERS))
def test_truncated_and_damaged_files_are_refused(name: str, files: dict[str, Path],
                                                 tmp_path: Path) -> None:
    cls, data = getattr(ns, name), files[name].read_bytes()
    cut = tmp_path / "cut.safetensors"
    for size in (len(data) - 1, len(data) // 2, 7, 0):
        cut.write_bytes(data[:size])
        with pytest.raises(ns.ResultFileError, match="truncated") as info:
            cls.load(cut)
        assert cls.FORMAT in str(info.value)
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF  # the last byte of the last tensor
    cut.write_bytes(bytes(damaged))
    with pytest.raises(ns.ResultFileError, match="damaged"):
        cls.load(cut)


def test_other_files_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(2)}, str(plain))
    with pytest.raises(ns.ResultFileError, match="not a neuronscope result"):
        ns.TopExamples.load(plain)
    with pytest.raises(ns.ResultFileError, match="no file"):
        ns.TopExamples.load(tmp_path / "missing.safetensors")


def test_fields_are_stored_by_kind(tmp_path: Path) -> None:
    @dataclass
    class Demo(Result):
        FORMAT = "neuronscope.test_demo"
        name: str
        size: tuple[int, int]
        values: torch.Tensor
        curves: dict[str, torch.Tensor]
        info: dict

    demo = Demo("x", (2, 3), torch.arange(3), {"a": torch.ones(2), "b": torch.zeros(1)},
                {"nan": float("nan"), "k": [1, 2]})
    back = Demo.load(demo.save(tmp_path / "demo.safetensors"))
    assert back.name == "x" and back.size == (2, 3) and torch.equal(back.values, demo.values)
    assert list(back.curves) == ["a", "b"] and torch.equal(back.curves["a"], torch.ones(2))
    assert back.info["k"] == [1, 2] and back.info["nan"] != back.info["nan"]


def test_earlier_layouts_and_headers_without_a_version_are_refused(tmp_path: Path) -> None:
    import json

    for header, words in [({"format": "neuronscope.top_examples/1"}, "earlier neuronscope"),
                          ({"format": "neuronscope.top_examples"}, "names no format version")]:
        path = tmp_path / "old.safetensors"
        save_file({"a": torch.zeros(1)}, str(path), metadata={"neuronscope": json.dumps(header)})
        with pytest.raises(ns.ResultFileError, match=words) as info:
            ns.TopExamples.load(path)
        assert str(path) in str(info.value)


def test_a_folder_is_not_a_result_file(tmp_path: Path) -> None:
    result = MAKERS["ReceptiveField"]()
    with pytest.raises(ns.ResultFileError, match="is a folder"):
        result.save(tmp_path)
