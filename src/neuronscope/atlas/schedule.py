"""Which process computes what, section by section: what a section still lacks, and,
when several processes build one atlas, who computes it and who writes it.

With several ranks, rank 0 decides what is missing (it alone writes the manifest) and
tells the others; a `Parted` section is shared part by part (parts.py), a
``distributed`` one (the dataset examples) shares its work itself, any other runs on
rank 0 alone while the others wait. After each section the ranks' records of the data
items they read are merged and rank 0 keeps them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.datacheck import CheckedData, merge_digests
from ..core.spec import InputSpec, foreign_labels
from .parts import Parted, run_parts
from .sections import Section

if TYPE_CHECKING:
    from .build import Job


def run_section(section: Section, job: Job, layers: list[str]) -> None:
    """Compute what `section` still lacks: the model-wide part, or the missing layers.
    With several ranks, rank 0 decides what is missing; a `Parted` section is shared part
    by part, a ``distributed`` one shares its work itself, any other runs on rank 0."""
    store, ranks = job.store, job.ranks
    if ranks.world > 1:
        store.manifest = ranks.share(store.manifest)
    if section.scope == "model":
        entry = store.manifest["sections"].get(section.name)
        if entry is None or section.outdated(job, entry):
            ranks.on_writer(lambda: _model_part(section, job))
        return
    todo = ranks.on_writer(lambda: _todo(section, job, layers))
    if not todo:
        return
    if ranks.world > 1 and isinstance(section, Parted):
        run_parts(section, job, todo, lambda layer, entry: store.mark(layer, section.name,
                                                                       entry))
    elif ranks.world > 1 and not section.distributed:
        ranks.on_writer(lambda: section.compute_layers(job, todo))
    else:
        section.compute_layers(job, todo)


def _model_part(section: Section, job: Job) -> None:
    why = unmet(section, job)
    job.store.manifest["sections"][section.name] = ({"skipped": why} if why
                                                    else section.compute_model(job))
    job.store.save_manifest()


def _todo(section: Section, job: Job, layers: list[str]) -> list[str]:
    """The layers the section has still to compute; those it cannot serve are marked
    skipped (``unmet``: for what the model or data lack, or what was not asked for, which
    a later build that has it computes)."""
    todo, store = [], job.store
    for layer in layers:
        entry = store.manifest["layers"].get(layer, {}).get(section.name)
        if entry is not None:
            if not (entry.get("unmet") and unmet(section, job) is None):
                continue
            del store.manifest["layers"][layer][section.name]  # met now: computed below
        record = store.demanded(layer, section.name) if section.on_demand else None
        if record is not None:
            adopted = section.adopts(job, layer, record)
            if adopted:
                store.mark(layer, section.name, record)  # the server's, computed as here
            elif isinstance(record.get("arrays"), str):  # of other settings: redone here
                store.path(record["arrays"]).unlink(missing_ok=True)
            store.path(store.layer_json(layer, section.name)).unlink(missing_ok=True)
            if adopted:
                continue
        why = unmet(section, job)
        if why:
            job.store.mark(layer, section.name, {"skipped": why, "unmet": True})
        else:
            todo.append(layer)
    return todo


def unmet(section: Section, job: Job) -> str | None:
    """Why the model and data cannot serve the section, or None."""
    spec = job.spec
    for need in section.needs:
        if need == "data" and job.data is None:
            return "no data was given"
        why = model_unmet(need, spec)
        if why:
            return why
        if need == "labels":
            from ..core.data import batch_labels

            try:
                label = batch_labels(job.data[0])
            except Exception:  # noqa: BLE001 - any failure means: no labels
                return "the data has no labels"
            if label.dim() == 1 and section.per_position and section.name in job.asked:
                continue  # a language model's next-token targets, scored at every position
            if label.dim() != 0:  # a sequence model's next-token targets, a mask, ...
                return (f"the data's labels are not one class per input (each item's label "
                        f"has shape {list(label.shape)})" + (
                            f"; scoring a language model at every position runs the whole "
                            f"model once per unit (pysource-lstm: 1.1 s per cell over 500 "
                            f"windows on 2 CPU cores, 5 min a layer): name the section to "
                            f"compute it (--sections {section.name})" if section.per_position and
                            label.dim() == 1 else ""))
            why = foreign_labels(job.data, spec)
            if why is None:  # once per build: one pass of the first input
                if "per_class" not in job.__dict__:
                    job.__dict__["per_class"] = _not_per_class(job)
                why = job.__dict__["per_class"]
            if why:
                return why
    return None


def _not_per_class(job: Job) -> str | None:
    """Why the model's output is not one score per class for an input with one label (a
    language model's logits at every position), or None."""
    import torch

    from ..core.data import item_input
    from ..core.layers import eval_mode
    from ..core.model import logits_of, model_device

    try:
        with eval_mode(job.model), torch.no_grad():
            out = logits_of(job.model(item_input(job.data, 0)[None].to(
                model_device(job.model))))
    except Exception:  # noqa: BLE001 - the sweep says what fails, with the model's words
        return None
    if isinstance(out, torch.Tensor) and out.dim() != 2:
        return (f"the model gives {list(out.shape[1:])} per input and the data one label per "
                "input: accuracy needs one score per class ([batch, classes]), or a label at "
                "every position of a language model")
    return None


# The input kinds a section that needs "image_or_spectrogram" draws (as [C, H, W])
DRAWN_KINDS = ("image", "audio")


def model_unmet(need: str, spec: InputSpec | None) -> str | None:
    """Why a model of `spec` does not meet a section's need of a model (``"image_model"``,
    ``"image_or_spectrogram"``: image or spectrogram input [C, H, W], ``"text_model"``),
    or None (also for needs of the data).

    Example:
        >>> model_unmet("image_model", InputSpec(shape=(8,), kind="text"))
        'the model takes no images: it reads text (this section draws images)'
        >>> model_unmet("image_or_spectrogram", InputSpec(shape=(1, 64, 63), kind="audio"))
        >>> model_unmet("image_or_spectrogram", InputSpec(shape=(8,), kind="text"))
        'the model reads text: this section needs image or spectrogram input [C, H, W]'
    """
    if need == "image_model" and (spec is None or spec.kind != "image" or len(spec.shape) != 3):
        return ("the model takes no images" if spec is None or spec.kind == "image"
                else f"the model takes no images: it reads {spec.kind} (this section draws "
                "images)")
    if need == "image_or_spectrogram" and (spec is None or spec.kind not in DRAWN_KINDS
                                           or len(spec.shape) != 3):
        return _not_drawn(spec)
    if need == "text_model" and (spec is None or spec.kind != "text"):
        return "the model reads no text"
    return None


def _not_drawn(spec: InputSpec | None) -> str:
    """Why a model's input is not an image or spectrogram [C, H, W]."""
    wanted = "this section needs image or spectrogram input [C, H, W]"
    if spec is None:
        return f"the model carries no InputSpec: {wanted}"
    if spec.kind in DRAWN_KINDS:
        return f"the model takes {spec.kind} input of shape {list(spec.shape)}: {wanted}"
    return f"the model reads {spec.kind}: {wanted}"


def save_digests(job: Job, checked: CheckedData) -> None:
    """Keep the digests of the items read so far (every rank's, merged)."""
    recorded = checked.recorded
    if job.ranks.world > 1:
        every = job.ranks.all_gather((checked.recorded, checked.digests))
        recorded = sum(n for n, _ in every)
        checked.digests = merge_digests([d for _, d in every])
    if recorded and job.ranks.writer:
        job.store.write_digests(checked.digests)
    checked.recorded = 0
