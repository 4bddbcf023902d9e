"""experiments/face_units.py and text_units.py (Yosinski's face and text units) on tiny
subsets: the AUC arithmetic, the choice on one half and the report on the other, and the
structure of the results."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

import neuronscope as ns
from neuronscope.data.photos import PHOTO_NAMES

EXPERIMENTS = Path(__file__).parents[1] / "experiments"
LAYERS = ["stem", "block3", "block12", "head"]  # early and deep, to keep it fast
FIELDS = {"n_units", "unit", "selection_auc", "heldout_auc", "null_selection_max_mean",
          "null_selection_max_p95", "null_heldout_mean", "null_heldout_p95",
          "null_heldout_p99", "p_value", "heldout_max_auc_biased", "top5_by_selection"}


@pytest.fixture(scope="module")
def exp() -> Iterator[dict[str, ModuleType]]:
    sys.path.insert(0, str(EXPERIMENTS))  # the scripts import their neighbours
    try:
        yield {n: importlib.import_module(n)
               for n in ("unit_auc", "text_stimuli", "face_units", "text_units")}
    finally:
        sys.path.remove(str(EXPERIMENTS))


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return ns.zoo.load("efficientnet-lite0")


def test_auc_matches_sklearn_with_ties(exp: dict[str, ModuleType]) -> None:
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (30, 5), generator=g).double()  # many ties
    labels = torch.arange(30) % 3 == 0
    got = exp["unit_auc"].auc(scores, labels)
    want = [roc_auc_score(labels.numpy(), scores[:, j].numpy()) for j in range(5)]
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64))
    many = exp["unit_auc"].auc_from_ranks(exp["unit_auc"].average_ranks(scores),
                                          torch.stack([labels, ~labels]))
    assert torch.allclose(many[0], got) and torch.allclose(many[1], 1 - got)
    with pytest.raises(ValueError, match="positive and one negative"):
        exp["unit_auc"].auc(scores, torch.zeros(30, dtype=torch.bool))


def test_unit_is_chosen_on_selection_and_reported_on_held_out(
        exp: dict[str, ModuleType]) -> None:
    n = 40
    positive = torch.arange(n) % 2 == 0
    selection = torch.arange(n) < n // 2
    g = torch.Generator().manual_seed(1)
    scores = torch.rand(n, 3, generator=g, dtype=torch.float64)
    scores[selection, 0] += 2.0 * positive[selection]  # unit 0: perfect on selection only
    scores[:, 1] += 0.5 * positive  # unit 1: good everywhere, worse on selection
    null = torch.stack([positive[torch.randperm(n, generator=g)] for _ in range(50)])
    row = exp["unit_auc"].study_layer(scores, positive, selection, null)
    assert row["unit"] == 0 and row["selection_auc"] == 1.0
    assert row["heldout_auc"] < 0.9 and row["heldout_max_auc_biased"] > row["heldout_auc"]
    assert FIELDS <= set(row) and 0 < row["p_value"] <= 1


def _check_rows(rows: dict, layers: list[str]) -> None:
    assert list(rows) == layers
    for r in rows.values():
        assert FIELDS <= set(r) and 0 <= r["unit"] < r["n_units"]
        for key in ("selection_auc", "heldout_auc", "null_selection_max_p95",
                    "null_heldout_p95", "p_value"):
            assert 0.0 <= r[key] <= 1.0, (key, r[key])
    # chosen on one half: the held-out AUC is a different number somewhere
    assert any(r["selection_auc"] != r["heldout_auc"] for r in rows.values())


def test_face_units_quick(exp: dict[str, ModuleType], model: torch.nn.Module,
                          tmp_path: Path) -> None:
    face = exp["face_units"]
    res = face.run(model, per_class=8, size=64, n_null=50, layers=LAYERS)
    assert set(res["sets"]) == {"lfw", "patches"} and res["_images"].shape == (24, 3, 64, 64)
    for s in res["sets"].values():
        assert s["n_faces"] == s["n_nonfaces"] == 8 and s["n_selection"] == 8
        _check_rows(s["blocks"], LAYERS)
        assert s["verdict"]["layer"] in ("block12", "head")
        assert all(0 <= a <= 1 for a in s["low_level_auc"].values())
    shown = face.show_unit(model, res, tmp_path)
    n = len(PHOTO_NAMES)
    assert len(shown["photos_ranked"]) == len(shown["photo_values"]) == n
    assert all(1 <= r <= n for r in shown["rank_of_photos_with_faces"].values())
    assert len(shown["top16"]) == 16 and shown["n_tied_at_top"] >= 1
    assert (tmp_path / "top_examples.png").read_bytes().startswith(b"\x89PNG")
    assert exp["unit_auc"].auc_figure(res["sets"]["lfw"]["blocks"], tmp_path / "a.png",
                                      "t").read_bytes().startswith(b"\x89PNG")


def test_text_units_quick(exp: dict[str, ModuleType], model: torch.nn.Module,
                          tmp_path: Path) -> None:
    res = exp["text_units"].run(model, per_photo=2, n_photos=4, size=64, n_null=50,
                                layers=LAYERS)
    assert res["_images"].shape == (4 * 2 * 3, 3, 64, 64)  # photos x crops x kinds
    chosen, held = set(res["selection_photos"]), set(res["heldout_photos"])
    assert len(chosen) == len(held) == 2 and not chosen & held
    assert not (chosen | held) & set(res["excluded_photos"])  # "page", "text"
    assert all(d["stroke_ink"] >= d["ink"] > 0 for d in res["drawn"])
    assert set(res["sets"]) == {"none", "strokes"}
    for s in res["sets"].values():
        assert s["n_selection"] == s["n_heldout"] == 8
        _check_rows(s["blocks"], LAYERS)
    shown = exp["text_units"].show_unit(model, res, tmp_path)
    assert set(shown["rank_of_photos_with_text"]) == {"page", "text"}
    assert (tmp_path / "photos_ranked.png").read_bytes().startswith(b"\x89PNG")
