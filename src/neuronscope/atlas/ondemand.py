"""Computing one unit of an ``on_demand`` section outside a build (the server does it when
a unit's page is first opened).

The unit is computed by the section's own code (`Section.compute_unit`) with the options a
build would use, and stored beside the atlas's files (`AtlasStore.unit_json` and the
unit's pictures), each file written atomically. The manifest is not touched, so a build
running at the same time is not disturbed; a later build of the layer reuses the units
computed with its own settings and merges them into the layer's file, which ends the same
as if the build had computed every unit itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..core.data import as_dataset
from ..core.datacheck import CheckedData, DataChangedError
from ..core.errors import NeuronscopeError
from ..core.fingerprint import model_fingerprint, quick_fingerprint
from ..core.layers import eval_mode, layer_table
from ..core.model import model_device
from ..core.spec import input_spec
from .build import Job
from .schedule import unmet
from .sections import Section, get_section
from .store import AtlasStore


class UnitComputer:
    """Computes single units of an atlas with the model it was built from.

    Example:
        >>> import tempfile, torch.nn as nn
        >>> from neuronscope.core.spec import InputSpec, attach_spec
        >>> model = attach_spec(nn.Sequential(nn.Conv2d(3, 2, 3)).eval(), InputSpec((3, 8, 8)))
        >>> store = AtlasStore(tempfile.mkdtemp())
        >>> store.manifest["layers"]["0"] = {"facts": {"n_units": 2}}
        >>> store.save_manifest()
        >>> UnitComputer(model, store, steps=2).compute("featvis", "0", 1)
        >>> sorted(store.unit_jsons("0", "featvis"))
        [1]
    """

    def __init__(self, model: nn.Module, store: AtlasStore, data: Any = None,
                 **options: Any) -> None:
        """`data`: the atlas's dataset, or a function that loads it for the model (called
        when a section first needs it), or None (sections that need data cannot run)."""
        self.model, self.store, self.options, self._data = model, store, options, data
        self._job: Job | None = None

    def job(self) -> Job:
        """The job a build would hand the sections, with no data until one needs it
        (`checked_data`); the model is checked against the atlas's fingerprint first."""
        if self._job is None:
            want = self.store.manifest.get("model", {}).get("fingerprint")
            if want and want != model_fingerprint(self.model):
                raise NeuronscopeError("the model given to the server is not the one this "
                                       "atlas was built from (its weights differ): give the "
                                       "atlas's own model, or serve without one")
            spec = input_spec(self.model)
            if spec is None:
                raise NeuronscopeError("the model carries no InputSpec: it cannot be run "
                                       "without data")
            example = spec.example(device=model_device(self.model))
            with eval_mode(self.model):
                infos = layer_table(self.model, example)
            self._job = Job(self.model, None, self.store, infos, example, False, self.options)
        return self._job

    def check(self, name: str, layer: str, unit: int) -> Section:
        """The section `name`, if it can compute `unit` of `layer` now; else an error that
        says why."""
        self.store.manifest = AtlasStore(self.store.root).manifest  # a build may have added
        section = get_section(name)
        if not section.on_demand:
            raise NeuronscopeError(f"section {name} is computed by the atlas command only")
        entry = self.store.manifest["layers"].get(layer)
        if entry is None:
            raise NeuronscopeError(f"no layer {layer!r} in this atlas")
        n_units = int(entry.get("facts", {}).get("n_units", 0))
        if not 0 <= unit < n_units:
            raise NeuronscopeError(f"{layer} has units 0-{n_units - 1}, not {unit}")
        return section

    def compute(self, name: str, layer: str, unit: int,
                progress: Callable[[float], None] | None = None) -> None:
        """Compute and store `unit` of `layer` for section `name` (a no-op when the layer
        is already done)."""
        section = self.check(name, layer, unit)
        if self.store.done(layer, name):
            return
        checked = self.checked_data() if "data" in section.needs else None
        job = self.job()  # after the data: loading it may give the model its InputSpec
        job.data = job.data if checked is None else checked
        why = unmet(section, job)
        if why:
            raise NeuronscopeError(f"section {name} cannot be computed: {why}")
        if layer not in job.infos:
            raise NeuronscopeError(f"the model has no layer {layer!r}")
        with eval_mode(self.model), torch.random.fork_rng(devices=[]):
            section.compute_unit(job, layer, unit, progress)

    def checked_data(self) -> CheckedData | None:
        """The atlas's data (None when none was given), loaded on first need and checked
        item by item against the atlas's record of it: other data is refused, not mixed
        in."""
        if self._data is None or isinstance(self._data, CheckedData):
            return self._data
        data = self._data(self.model) if callable(self._data) else self._data
        dataset = as_dataset(data)
        want = self.store.manifest.get("data", {})
        if want.get("n") is not None and want["n"] != len(dataset):
            raise DataChangedError(f"the data has {len(dataset):,} items; the atlas in "
                                   f"{self.store.root} was made from {want['n']:,}")
        if want.get("fingerprint") and want["fingerprint"] != quick_fingerprint(dataset):
            raise DataChangedError(f"the data given is not the data the atlas in "
                                   f"{self.store.root} was made from")
        self._data = CheckedData(dataset, self.store.read_digests(),
                                 f"the atlas in {self.store.root}")
        return self._data


def options_of(store: AtlasStore, name: str) -> dict[str, Any]:
    """The options of section `name` an atlas's layers were built with (read from a done
    layer's per-unit file: ``steps``, ``n_starts``), so on-demand units match them; empty
    when no layer is done (the section's defaults are used)."""
    section = get_section(name)
    for layer, entry in store.manifest["layers"].items():
        if "units" in entry.get(name, {}):
            try:
                numbers = store.read_json(store.units_json(layer, name))
            except (OSError, ValueError):
                continue
            return {k: numbers[k] for k in section.options if k in numbers}
    return {}
