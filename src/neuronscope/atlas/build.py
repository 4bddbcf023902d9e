"""Building an atlas: every registered section of every layer, resumable (see store.py).

Sections run in their order; each computes only the layers it has not finished, so a
rerun after an interruption, or with more layers or sections, computes only what is
missing. The built-in sections (atlas/sections/): ``weights`` (model-wide filters and
templates), ``examples`` (dataset examples, one pass for all layers), ``ablation``
(importance and selectivity), ``featvis`` (feature visualizations), ``dream``
(DeepDream of a photograph), ``inversion`` (the photograph reconstructed from each layer)
and ``dissect`` (concepts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.data import as_dataset, first_batch
from ..core.datacheck import CheckedData, DataChangedError
from ..core.errors import NeuronscopeError
from ..core.fingerprint import model_fingerprint, quick_fingerprint
from ..core.layers import (
    LayerInfo,
    batch_not_first,
    default_layers,
    eval_mode,
    find_layer,
    layer_table,
)
from ..core.model import model_device
from ..core.ranks import Ranks
from ..core.receptive import receptive_field
from ..core.spec import InputSpec, input_spec, refuse_unreadable
from ..render.kinds import field_size
from .schedule import run_section, save_digests
from .sections import Section, get_section, sections
from .store import AtlasStore

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """What a section computes from: the model, the data, the atlas store, the layers, the
    build options (each section reads its own with `option`) and, when several processes
    build the atlas, this process's `ranks` (rank 0 alone writes); `asked`: the sections
    the caller named (none when it took the default, every section)."""

    model: nn.Module
    data: Any
    store: AtlasStore
    infos: dict[str, LayerInfo]
    example: Any
    progress: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    ranks: Ranks = field(default_factory=Ranks)
    asked: tuple[str, ...] = ()
    found: dict[str, Any] = field(default_factory=dict)  # what a check found, kept per build

    @property
    def spec(self) -> InputSpec | None:
        return input_spec(self.model)

    def option(self, name: str, section: Section) -> Any:
        """A build option, or the section's default for it."""
        return self.options.get(name, section.options.get(name))


def build_atlas(model: nn.Module, data: Any, out: str, *, layers: list[str] | None = None,
                sections: tuple[str, ...] | None = None, name: str = "model",
                data_name: str = "", data_source: dict[str, Any] | None = None,
                progress: bool = True, **options: Any) -> AtlasStore:
    """Compute what is missing of the atlas of `model` on `data` in folder `out`.

    `sections` (default: every registered section) are computed for `layers` (default:
    those the model declares, else every conv, linear and recurrent layer). `options` go
    to the sections that read them (built-in: ``k`` dataset examples per side, ``steps``
    feature-visualization steps, ``n_starts``, ``ablation_n`` inputs for lesions,
    ``photo`` for DeepDream, ``unit_batch`` units computed together). `data_source`
    (JSON) records how to load the data again, so that a server can mine dataset examples
    on demand (the CLI records its data arguments).

    Under ``torchrun`` (a torch.distributed process group is initialized) every rank calls
    it with the same arguments: the dataset examples are mined by data shards, the
    per-unit sections split by parts (`neuronscope.atlas.parts`), and rank 0 writes every
    file: the atlas is the one a single process builds.

    Example:
        >>> import tempfile, torch, torch.nn as nn
        >>> from torch.utils.data import TensorDataset
        >>> from neuronscope.core.spec import InputSpec, attach_spec
        >>> model = attach_spec(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(),
        ...                     nn.Linear(2 * 6 * 6, 2)).eval(), InputSpec(shape=(3, 8, 8)))
        >>> data = TensorDataset(torch.rand(12, 3, 8, 8), torch.tensor([0, 1] * 6))
        >>> atlas = build_atlas(model, data, tempfile.mkdtemp(), sections=("examples",),
        ...                     progress=False)
        >>> sorted(atlas.manifest["layers"])
        ['0', '3']
    """
    chosen_sections = _sections(sections, options)
    dataset = as_dataset(data)
    ranks = Ranks.current()
    refuse_unreadable(model, dataset)
    with eval_mode(model):
        example = first_batch(dataset, model_device(model))
        infos = layer_table(model, example)
        chosen = _layers(model, infos, layers)  # checked before anything is written
        header = ({"name": name, "fingerprint": model_fingerprint(model),
                   "spec": _spec_json(model)},
                  {"name": data_name, "n": len(dataset),
                   "fingerprint": quick_fingerprint(dataset),
                   **({"source": data_source} if data_source else {})})
        ranks.same({"header": header, "layers": chosen, "folder": str(Path(out).resolve()),
                    "sections": [s.name for s in chosen_sections],
                    "options": {k: repr(v) for k, v in sorted(options.items())}},
                   "models, data or settings")
        store = ranks.on_writer(lambda: _open(out, header, model, infos, chosen, example))
        if not ranks.writer:
            store = AtlasStore(out, writer=False)
        checked = CheckedData(dataset, store.read_digests(), f"the atlas in {store.root}")
        job = Job(model, checked, store, infos, example, progress and ranks.writer, options,
                  ranks, tuple(sections or ()))
        try:
            for section in chosen_sections:
                run_section(section, job, chosen)
                save_digests(job, checked)
        except DataChangedError as exc:
            raise DataChangedError(f"{exc}: the atlas would mix two datasets. Build the new "
                                   f"data's atlas in another folder, or delete {store.root} "
                                   "to start afresh.") from None
    return store


def _open(out: str, header: tuple[dict[str, Any], dict[str, Any]], model: nn.Module,
          infos: dict[str, LayerInfo], chosen: list[str], example: Any) -> AtlasStore:
    """The atlas folder, with its header, layer order and layer facts written."""
    store = AtlasStore(out)
    if store.clean_temporary():
        logger.info("atlas: removed the temporary files of an interrupted build")
    store.set_header(*header)
    store.manifest["order"] = [n for n in infos if n in set(chosen) |
                               set(store.manifest["layers"])]
    for layer in chosen:
        store.manifest["layers"].setdefault(layer, {})
        store.manifest["layers"][layer]["facts"] = _layer_facts(model, infos[layer], example)
    store.save_manifest()
    return store


def _layers(model: nn.Module, infos: dict[str, LayerInfo], layers: list[str] | None
            ) -> list[str]:
    """The layers asked for (whole layers that run once per pass), or by default
    `neuronscope.core.layers.default_layers`: those the model declares, else every conv,
    linear and recurrent layer that runs once per pass."""
    if layers:
        named = [find_layer(model, infos, name, single_call=True, layer_only=True)
                 for name in layers]
        for info in named:  # refused before anything is written (a plan would keep it)
            why = batch_not_first(model, info)
            if why:
                raise NeuronscopeError(f"{info.name}: {why}; the atlas studies layers that put "
                                       "the batch first")
        return [info.name for info in named]
    chosen, left = default_layers(model, infos)
    told = [f"{n} ({why})" for n, why in left.items() if "final state" not in why]
    if told:
        logger.warning("atlas: leaving out %s; name layers to choose", "; ".join(told))
    return [i.name for i in chosen]


def _sections(names: tuple[str, ...] | None, options: dict[str, Any]) -> list[Section]:
    chosen = sections() if names is None else [get_section(n) for n in names]
    known = {o for s in sections() for o in s.options}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"build_atlas got unknown options {unknown}; the registered sections "
                        f"read: {', '.join(sorted(known))}")
    for section in chosen:
        section.check_options(options)
    return sorted(chosen, key=lambda s: (s.order, s.name))


def _layer_facts(model: nn.Module, info: LayerInfo, example: torch.Tensor) -> dict[str, Any]:
    facts: dict[str, Any] = {"kind": info.kind, "module": info.module_type,
                             "shape": list(info.shape), "n_units": info.n_units}
    if info.unit_axis is not None and len(info.shape) >= 2:
        try:
            rf = receptive_field(model, info.name, example)
            spec = input_spec(model)  # its size in the input's own words (bands, bins...)
            facts["receptive_field"] = {"size": list(rf.size), "stride": list(rf.stride),
                                        "exact": rf.exact, "in_words": field_size(
                                            rf.size, getattr(spec, "kind", None), spec)}
        except Exception as exc:  # noqa: BLE001 - a missing field is shown as unknown
            logger.info("no receptive field for %s: %s", info.name, exc)
    return facts


def _spec_json(model: nn.Module) -> dict[str, Any]:
    spec = input_spec(model)
    if spec is None:
        return {}
    out = {"shape": list(spec.shape), "kind": spec.kind, "classes": spec.class_names or []}
    if spec.vocab and len(spec.vocab) <= 4096:  # a character model: its output units' names
        out["vocab"] = spec.vocab
    return out
