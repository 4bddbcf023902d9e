"""Work in parts, in one process: a section interrupted between parts resumes with the
parts it had written; a reading store refuses to write; ranks that disagree stop; digest
records of several processes merge, and a clash stops the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from neuronscope.atlas import build_atlas, register_section, unregister_section
from neuronscope.atlas.parts import Parted, unit_chunks
from neuronscope.atlas.sections import Section
from neuronscope.atlas.store import AtlasStore
from neuronscope.core.datacheck import DataChangedError, merge_digests
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.ranks import Ranks, RanksDisagreeError

from ..web.atlas_job import tiny_data, tiny_model


class Norms(Parted, Section):
    """Each unit's weight norm, one unit per part; `fail_at` makes one part fail."""

    name, title, order = "pnorms", "Norms in parts", 60
    options = {"unit_batch": 1}
    computed: list[tuple[str, int]] = []
    fail_at: tuple[str, int] | None = None

    def parts(self, job: Any, layer: str) -> list[Any]:
        return unit_chunks(job.infos[layer].n_units, job.option("unit_batch", self))

    def compute_part(self, job: Any, layer: str, part: Any) -> Any:
        if (layer, part[0]) == self.fail_at:
            raise KeyboardInterrupt  # as a Ctrl-C in the middle of the layer
        self.computed.append((layer, part[0]))
        weight = dict(job.model.named_modules())[layer].weight.detach()
        return weight.flatten(1)[part[0]:part[1]].norm(dim=1).tolist()

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        norms = [v for part in written for v in part]
        return {"units": job.store.write_json(job.store.units_json(layer, self.name), norms)}


@pytest.fixture()
def norms() -> Any:
    register_section(Norms)
    Norms.computed, Norms.fail_at = [], None
    yield Norms
    unregister_section("pnorms")


def _build(out: Path) -> AtlasStore:
    return build_atlas(tiny_model(), tiny_data(), str(out), layers=["conv1", "fc"],
                       sections=("pnorms",), progress=False)


def test_an_interrupted_layer_resumes_from_its_written_parts(norms: Any, tmp_path: Path
                                                             ) -> None:
    whole = _build(tmp_path / "whole")
    expected = whole.read_json(whole.units_json("conv1", "pnorms"))
    assert len(expected) == 4 and norms.computed == [("conv1", u) for u in range(4)] + [
        ("fc", u) for u in range(3)]
    norms.computed, norms.fail_at = [], ("conv1", 2)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "cut")
    assert norms.computed == [("conv1", 0), ("conv1", 1)]
    assert len(list((tmp_path / "cut" / "work").glob("pnorms-*.json"))) == 1
    norms.computed, norms.fail_at = [], None
    cut = _build(tmp_path / "cut")
    assert norms.computed == [("conv1", 2), ("conv1", 3)] + [("fc", u) for u in range(3)]
    assert cut.read_json(cut.units_json("conv1", "pnorms")) == expected
    assert not list((tmp_path / "cut" / "work").glob("pnorms-*.json"))


def test_a_reading_store_refuses_every_write(tmp_path: Path) -> None:
    AtlasStore(tmp_path).save_manifest()
    reader = AtlasStore(tmp_path, writer=False)
    for write in (lambda: reader.write_json("units/a.json", {}), reader.save_manifest,
                  lambda: reader.mark("conv1", "featvis", {}),
                  lambda: reader.write_digests(torch.zeros(1, 8, dtype=torch.uint8))):
        with pytest.raises(NeuronscopeError, match="only rank 0 writes"):
            write()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


class _Pretend(Ranks):
    """Rank 0 of 2, whose partner answers `theirs`."""

    def __init__(self, theirs: dict[str, Any]) -> None:
        super().__init__(0, 2)
        object.__setattr__(self, "theirs", theirs)

    def all_gather(self, value: Any) -> list[Any]:
        return [value, self.theirs]  # type: ignore[attr-defined]


def test_ranks_given_other_settings_stop() -> None:
    _Pretend({"steps": 64, "k": 9}).same({"steps": 64, "k": 9}, "settings")
    with pytest.raises(RanksDisagreeError, match="steps: rank 0 64, rank 1 32"):
        _Pretend({"steps": 32, "k": 9}).same({"steps": 64, "k": 9}, "settings")


def test_digest_records_merge_and_a_clash_stops() -> None:
    a, b = torch.zeros(3, 8, dtype=torch.uint8), torch.zeros(3, 8, dtype=torch.uint8)
    a[0], b[2], b[0] = 5, 7, 5
    assert merge_digests([a, b])[:, 0].tolist() == [5, 0, 7]
    b[0] = 6
    with pytest.raises(DataChangedError, match="item 0 .* differs between the processes"):
        merge_digests([a, b])
