"""Atlas sections: each part of the atlas is one registered `Section`.

A section declares its name, the options it reads (with defaults), what it needs of
the model and data, how it computes and stores one layer (or the whole model), and
what it shows on the unit, layer and model pages and in the live page's unit panel.
The builder (build.py), the server and its pages only iterate over the registered
sections, so a new section is one file: built-in ones live beside this one, and a
user registers their own from anywhere with `register_section`.

Example:
    >>> from neuronscope.atlas.sections import Section, register_section, unregister_section
    >>> @register_section
    ... class Note(Section):
    ...     name, title = "note", "A note"
    ...     def compute_layer(self, job, layer):
    ...         return {"units": job.store.write_json(job.store.units_json(layer, "note"),
    ...                                               {"text": f"{layer} noted"})}
    ...     def unit_html(self, view, layer, unit):
    ...         return view.heading(self) + view.esc(view.units(layer, self.name)["text"])
    >>> "note" in section_names()
    True
    >>> unregister_section("note")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ...core.errors import NeuronscopeError

if TYPE_CHECKING:
    from ..build import Job
    from ..view import AtlasView

SCOPES = ("layer", "pass", "model")
RESERVED = ("facts",)  # keys the manifest uses beside the sections of a layer


class UnknownSectionError(NeuronscopeError, ValueError):
    """A section name that no registered section has."""


class Section:
    """One part of the atlas. Subclasses set `name` and `title` and override what they do.

    ``scope``: ``"layer"`` sections compute each layer with `compute_layer`; ``"pass"``
    sections compute all missing layers at once with `compute_layers` (one pass over
    the data); ``"model"`` sections compute once for the model with `compute_model`.
    ``options``: the build options it reads, with defaults (``job.option(name)``).
    ``needs``: what the model and data must offer (``"data"``, ``"labels"``,
    ``"image_model"``, ``"image_or_spectrogram"``, ``"text_model"``);
    a layer the section cannot serve is marked skipped with the reason.
    ``order``: when it is computed (low first); ``page_order``: where it is shown on
    pages (default: `order`). ``distributed``: when several processes build the atlas
    (torchrun), every rank calls its `compute_layers`, which shares the work itself;
    otherwise rank 0 alone computes it, or, for a `neuronscope.atlas.parts.Parted`
    section, the ranks share its parts.
    ``on_demand``: the server may compute it for one unit when the unit's page is opened
    (`compute_unit`), and a later build reuses that (see atlas/ondemand.py);
    ``demand_scope = "layer"``: any unit asks for the whole layer at once (one pass over
    the data serves every unit), recorded in `AtlasStore.layer_json` until a build
    `adopts` it. ``per_position``: a section that needs labels also takes one label per
    position ([T]: a language model's next tokens), when it is named in the build's
    sections (slow work no default build should start).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    scope: ClassVar[str] = "layer"
    order: ClassVar[int] = 100
    page_order: ClassVar[int | None] = None
    options: ClassVar[dict[str, Any]] = {}
    needs: ClassVar[tuple[str, ...]] = ()
    distributed: ClassVar[bool] = False
    on_demand: ClassVar[bool] = False
    demand_scope: ClassVar[str] = "unit"
    per_position: ClassVar[bool] = False

    # ------------------------------------------------------------ computing

    def compute_layer(self, job: Job, layer: str) -> dict[str, Any]:
        """Compute and store one layer; return what the manifest records for it (after
        every file is written, the builder marks the layer done with it)."""
        raise NotImplementedError(f"section {self.name} computes no layers")

    def compute_layers(self, job: Job, layers: list[str]) -> None:
        """Compute every layer of `layers` not done yet (a "pass" section overrides this
        to serve them in one pass, marking each layer done itself)."""
        for layer in layers:
            if not job.store.done(layer, self.name):
                job.store.mark(layer, self.name, self.compute_layer(job, layer))

    def compute_unit(self, job: Job, layer: str, unit: int,
                     progress: Callable[[float], None] | None = None) -> None:
        """Compute and store one unit of a layer not done yet (``on_demand`` sections),
        exactly as `compute_layer` would; `progress(fraction)` is told how far it is."""
        raise NotImplementedError(f"section {self.name} computes no single units")

    def adopts(self, job: Job, layer: str, record: dict[str, Any]) -> bool:
        """Whether a layer the server computed on demand (`record`, its `layer_json`)
        answers this build's options, so the build records it instead of computing it."""
        return False

    def computed_units(self, view: AtlasView, layer: str) -> set[int]:
        """The units of a layer this section has results for (``on_demand`` sections)."""
        entry = view.entry(layer, self.name)
        return set(range(view.n_units(layer))) if entry and "skipped" not in entry else set()

    def check_options(self, options: dict[str, Any]) -> None:
        """Refuse bad build options (raise) before any section computes anything
        (default: nothing to check)."""

    def compute_model(self, job: Job) -> dict[str, Any]:
        """Compute and store the model-wide part; return what the manifest records."""
        raise NotImplementedError(f"section {self.name} computes nothing model-wide")

    def outdated(self, job: Job, entry: dict[str, Any]) -> bool:
        """Whether the model-wide part the atlas holds (`entry`, what `compute_model`
        returned) no longer answers this build's options, so it is computed again (default:
        never)."""
        return False

    # ------------------------------------------------------------ showing

    def model_html(self, view: AtlasView) -> str:
        """A block of the model page."""
        return ""

    def page_html(self, view: AtlasView) -> str:
        """A page of its own (served at ``view.section_url(name)``), or "" for none."""
        return ""

    def model_thumbnail(self, view: AtlasView) -> str | None:
        """A small picture of the whole model, for the page that lists a server's models
        (the first section in order that offers one is used)."""
        return None

    def layer_html(self, view: AtlasView, layer: str) -> str:
        """A block of a layer page, below the grid of units."""
        return ""

    def unit_html(self, view: AtlasView, layer: str, unit: int) -> str:
        """A block of a unit page."""
        return ""

    def thumbnail(self, view: AtlasView, layer: str, unit: int) -> str | None:
        """A small picture of the unit for the layer page's grid (the first section in
        order that offers one is used)."""
        return None

    def unit_order(self, view: AtlasView, layer: str) -> tuple[list[int], str, list[str]] | None:
        """(units in the order to show them, what the order is, a short note per unit) for
        the layer page (the first section in order that offers one is used)."""
        return None

    def panel(self, view: AtlasView, layer: str, unit: int) -> dict[str, Any]:
        """Pictures of the unit for the live page's panel, by name (URL or None)."""
        return {}


_SECTIONS: dict[str, Section] = {}


def register_section(section: Section | type[Section]) -> Any:
    """Register a section (a class, so usable as a decorator, or an instance); a section
    of the same name is replaced. Returns what it was given."""
    instance = section() if isinstance(section, type) else section
    if not instance.name or not instance.name.replace("_", "").isalnum():
        raise ValueError(f"a section needs a plain name (letters, digits, _), got "
                         f"{instance.name!r}")
    if instance.name in RESERVED:
        raise ValueError(f"{instance.name!r} is taken by the atlas itself; name the section "
                         "otherwise")
    if instance.scope not in SCOPES:
        raise ValueError(f"section {instance.name}: scope must be one of {SCOPES}")
    _SECTIONS[instance.name] = instance
    return section


def unregister_section(name: str) -> None:
    """Remove a registered section (its files in existing atlases stay)."""
    _SECTIONS.pop(name, None)


def sections() -> list[Section]:
    """The registered sections, in order."""
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.name))


def page_sections() -> list[Section]:
    """The registered sections in the order pages show them."""
    return sorted(_SECTIONS.values(), key=lambda s: (s.order if s.page_order is None
                                                     else s.page_order, s.name))


def section_names() -> list[str]:
    """The names of the registered sections, in order."""
    return [s.name for s in sections()]


def get_section(name: str) -> Section:
    """The registered section `name`; an unknown name raises an error listing them."""
    if name not in _SECTIONS:
        raise UnknownSectionError(f"unknown atlas section {name!r}; sections: "
                                  f"{', '.join(section_names())} (a section of your own: "
                                  "--plugin FILE, or register_section in Python)")
    return _SECTIONS[name]


from . import ablation, dissect, dream, examples, featvis, gallery, inversion, lca, probe, weights  # noqa: E402,F401,E501 - built-ins
