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
    why = unmet(section, job)  # the same for every layer
    for layer in layers:
        entry = store.entry(layer, section.name)
        if entry is not None:
            if not (entry.get("unmet") and why is None):
                continue
            store.forget(layer, section.name)  # met now: computed below
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
        why = model_unmet(need, spec) or (_labels_unmet(section, job) if need == "labels"
                                          else None)
        if why:
            return why
    return None


def _labels_unmet(section: Section, job: Job) -> str | None:
    """Why the data's labels cannot score the model's output: one class per input for
    [batch, classes], or (a section that scores every position, when named) one per
    position for a language model's [batch, positions, classes]; or None."""
    from ..core.data import batch_labels

    try:
        label = batch_labels(job.data[0])
    except Exception:  # noqa: BLE001 - any failure means: no labels
        return "the data has no labels"
    out = _output_shape(job)  # [classes] or [positions, classes] per input; None: unknown
    if label.dim() == 1 and section.per_position:
        if out is not None and out != [*label.shape, out[-1]]:
            return (f"the data give a label at each of {len(label)} positions, the model "
                    f"{out} per input: it needs [positions, classes]")
        if section.name in job.asked:
            return None  # next-token targets, scored at every position
        return (f"the data's labels are not one class per input but one per position "
                f"({len(label)}): scoring every "
                "position runs the model once per unit where the layer cannot be split from "
                "it (a recurrent state: pysource-lstm's lstm.c took 5 min on 2 CPU cores); "
                f"name the section to compute it (--sections {section.name})")
    if label.dim() != 0:  # a mask, several labels, ...
        return (f"the data's labels are not one class per input (each item's label has "
                f"shape {list(label.shape)})")
    if out is not None and len(out) != 1:
        return (f"the model gives {out} per input and the data one label per input: accuracy "
                "needs one score per class ([batch, classes]), or a label at every position "
                "of a language model")
    return foreign_labels(job.data, job.spec)


def _output_shape(job: Job) -> list[int] | None:
    """The shape of the model's logits for one input, without the batch (one pass of the
    first input, once per build); None when the model's output is not a tensor."""
    if "output" not in job.found:
        import torch

        from ..core.data import item_input
        from ..core.layers import eval_mode
        from ..core.model import logits_of, model_device

        try:
            with eval_mode(job.model), torch.no_grad():
                out = logits_of(job.model(item_input(job.data, 0)[None].to(
                    model_device(job.model))))
        except Exception:  # noqa: BLE001 - the section's own run says what fails
            out = None
        job.found["output"] = list(out.shape[1:]) if isinstance(out, torch.Tensor) else None
    return job.found["output"]


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
