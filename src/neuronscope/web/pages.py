"""HTML pages of the microscope, made from an atlas folder by its registered sections
(no templates, no build step). Each page is a frame; the sections fill it in order.
Every URL a page writes comes from its `AtlasView`, so an atlas served under a path
(``/models/NAME/`` beside other atlases) links within it."""

from __future__ import annotations

from collections.abc import Collection

from ..atlas.schedule import model_unmet
from ..atlas.sections import Section, page_sections
from ..atlas.view import AtlasView, skipped_sections
from ..core.spec import InputSpec
from ..render.html import esc, page
from ..render.kinds import field_size


def nav(view: AtlasView) -> str:
    """The links atop every page: every model (when the server serves several), this
    model's atlas, and its live page, or its text probe for a text model."""
    models = f"<a href='{esc(view.home)}'>all models</a> · " if view.home else ""
    name = model_name(view.manifest) if view.home else ""
    probe = (f"<a href='{esc(view.url('/probe'))}'>text probe</a>" if reads_text(view)
             else f"<a href='{esc(view.url('/live'))}'>live</a>")
    return (f"<nav>{models}<a href='{esc(view.url('/'))}'>model{esc(' ' + name if name else '')}"
            f"</a> · {probe}</nav>")


def input_kind(view: AtlasView) -> str:
    """What the atlas's model reads, as its manifest records it ("image", "text", "audio";
    "" when it does not say)."""
    return str(view.manifest.get("model", {}).get("spec", {}).get("kind") or "")


def reads_text(view: AtlasView) -> bool:
    """Whether the atlas (or the model the server serves it with) is of a text model."""
    return bool(getattr(view, "text_probe", False)) or input_kind(view) == "text"


def model_name(manifest: dict) -> str:
    """The name of an atlas's model as pages show it (``zoo:`` left out).

    Example:
        >>> model_name({"model": {"name": "zoo:shapes-cnn"}})
        'shapes-cnn'
    """
    return str(manifest.get("model", {}).get("name") or "model").removeprefix("zoo:")


def css(base: str = "") -> str:
    """The link to the style sheet of pages served under `base`."""
    return f"<link rel='stylesheet' href='{esc(base)}/static/style.css'>"


def _shell(view: AtlasView, title: str, body: str) -> str:
    return page(title, css(view.base) + nav(view) + body)


def model_page(view: AtlasView) -> str:
    m = view.manifest
    rows = []
    for layer in m.get("order", list(m["layers"])):
        entry = m["layers"].get(layer, {})
        facts = entry.get("facts", {})
        rf = facts.get("receptive_field")
        rf_text = ("" if rf.get("exact", True) else ">= ") + \
            (rf.get("in_words") or field_size(rf["size"], input_kind(view))) if rf else ""
        done = ", ".join([k for k, v in entry.items() if k != "facts" and "skipped" not in v]
                         + [s.name for s in page_sections() if s.demand_scope == "layer"
                            and s.name not in entry and view.entry(layer, s.name)])
        rows.append(f"<tr><td><a href='{esc(view.layer_url(layer))}'>{esc(layer)}</a></td>"
                    f"<td>{esc(facts.get('kind', ''))}</td><td class='num'>"
                    f"{facts.get('n_units', '')}</td><td>{esc(rf_text)}</td>"
                    f"<td class='muted'>{esc(done or 'nothing yet')}</td></tr>")
    data = m.get("data", {})
    body = (f"<h1>{esc(model_name(m))}</h1><p class='muted'>atlas on "
            f"{data.get('n', '?')} inputs"
            f"{' of ' + esc(data['name']) if data.get('name') else ''}. Click a layer for its "
            f"units; {_probing(view)}.</p>"
            "<table id='layers'><tr><th>layer</th><th>kind</th><th>units</th><th>receptive "
            f"field</th><th>sections</th></tr>{''.join(rows)}</table>" + _not_computed(m)
            + "".join(s.model_html(view) for s in page_sections()))
    return _shell(view, f"neuronscope: {model_name(m)}", body)


def _not_computed(manifest: dict) -> str:
    """The sections the build left out, each with its reason and layers (folded)."""
    found = skipped_sections(manifest)
    if not found:
        return ""
    items = "".join(f"<li><b>{esc(name)}</b>" + (f" ({esc(', '.join(where))})" if where else "")
                    + f": {esc(why)}</li>" for name, why, where in found)
    return (f"<details id='not-computed'><summary class='muted'>not computed: "
            f"{esc(', '.join(dict.fromkeys(n for n, _, _ in found)))}</summary><ul>{items}</ul>"
            "</details>")


def _probing(view: AtlasView) -> str:
    """The model page's line on probing the model live."""
    if reads_text(view):
        return (f"the <a href='{esc(view.url('/probe'))}'>text probe</a> shades every token of "
                "a text you type by one unit")
    heard = input_kind(view) == "audio"
    shape = view.manifest.get("model", {}).get("spec", {}).get("shape")
    if shape is not None and len(shape) != 3:  # a waveform, a vector: not drawn live
        return (f"<a href='{esc(view.url('/live'))}'>live</a> takes images and spectrograms "
                f"[C, H, W], not this model's input of shape {esc(str(list(shape)))}")
    return (f"<a href='{esc(view.url('/live'))}'>live</a> shows every layer's response to "
            f"{'a sound' if heard else 'an image'}")


def _open(view: AtlasView, section: Section, layer: str) -> bool:
    """Whether `section` may still be computed unit by unit for `layer` (an on-demand
    section the build has neither finished nor skipped there, and that the atlas's model
    can serve: one that needs images is not offered for a text or sound model)."""
    if not _serves(view, section):
        return False
    return section.on_demand and view.entry(layer, section.name) is None


def _serves(view: AtlasView, section: Section) -> bool:
    """Whether the atlas's model, as its manifest records its input (kind and shape),
    meets what `section` needs of a model (`model_unmet`); an atlas that does not record
    its model's input is given the benefit of the doubt."""
    recorded = view.manifest.get("model", {}).get("spec") or {}
    if not recorded.get("kind") or "shape" not in recorded:
        return True
    try:
        spec = InputSpec(tuple(recorded.get("shape", ())), kind=recorded["kind"])
    except (TypeError, ValueError):  # a kind this version does not know
        return True
    return not any(model_unmet(need, spec) for need in section.needs)


def _missing(view: AtlasView, section: Section, layer: str, unit: int, live: bool) -> str:
    """What a unit page shows of an on-demand section the unit lacks: a progress bar that
    ondemand.js fills while the server computes it, or how to compute it."""
    if unit in section.computed_units(view, layer):
        return ""
    if not live:
        return (f"{view.heading(section)}<p class='muted notcomputed'>Not computed yet. "
                f"Compute it with <code>neuronscope atlas MODEL --data NAME --out DIR "
                f"--sections {esc(section.name)} --layers {esc(layer)}</code>, or browse "
                "with the model (<code>neuronscope serve DIR --model MODEL</code>) to "
                "compute it when this page is opened.</p>")
    return view.heading(section) + _progress(view, section, layer, unit)


def _progress(view: AtlasView, section: Section, layer: str, unit: int = 0) -> str:
    """A progress bar that ondemand.js starts and fills while the server computes."""
    url = view.url(f"/api/compute/{section.name}/{layer}/{unit}")
    what = ("for every unit of the layer now (one pass over the data)"
            if section.demand_scope == "layer" else "now")
    return (f"<div class='ondemand' data-compute='{esc(url)}' "
            f"data-section='{esc(section.name)}'><p class='muted'>Not computed yet: "
            f"computing it {what} <progress max='1' value='0'></progress> "
            "<span class='status'></span></p></div>")


def _counts(view: AtlasView, layer: str, computes: Collection[str]
            ) -> tuple[str, set[int]]:
    """The layer page's lines on what on-demand sections have computed (a section that
    computes whole layers starts here when the server has the model), and those units."""
    lines, marked, n = [], set(), view.n_units(layer)
    for section in page_sections():
        if not _open(view, section, layer):
            continue
        if section.demand_scope == "layer":
            lines.append(f"<h2>{esc(section.title)}</h2>" + (
                _progress(view, section, layer) if section.name in computes else
                f"<p class='muted computed' data-section='{esc(section.name)}'>Not "
                "computed for this layer yet (browse with the model to compute it, or run "
                "the atlas command)</p>"))
            continue
        done = section.computed_units(view, layer)
        marked |= done
        lines.append(f"<p class='muted computed' data-section='{esc(section.name)}'>"
                     f"{esc(section.title)}: {len(done)} of {n} units computed "
                     "(the rest when their page is opened, or by the atlas command)</p>")
    return "".join(lines), marked


def _script(view: AtlasView, parts: list[str]) -> str:
    """ondemand.js, for a page with a progress bar to fill."""
    if any("class='ondemand'" in part for part in parts):
        return f"<script src='{esc(view.url('/static/ondemand.js'))}'></script>"
    return ""


def layer_page(view: AtlasView, layer: str, computes: Collection[str] = ()) -> str:
    """A layer's page; the server computes the on-demand sections named in `computes`."""
    n = view.n_units(layer)
    order, how, notes = next((o for s in page_sections() if (o := s.unit_order(view, layer))),
                             (list(range(n)), "in order", [""] * n))
    counts, marked = _counts(view, layer, computes)
    cells = []
    for u in order:
        img = next((t for s in page_sections() if (t := s.thumbnail(view, layer, u))),
                   "<span class='nopicture'></span>")  # the label below says which
        label = f"{u} {notes[u]}".strip()
        mark = " done" if u in marked else ""
        cells.append(f"<a class='cell{mark}' href='{esc(view.unit_url(layer, u))}'>{img}"
                     f"<span>{esc(label)}</span></a>")
    blocks = "".join(s.layer_html(view, layer) for s in page_sections())
    body = (f"<h1>{esc(layer)}</h1><p class='muted'>{n} units, {esc(how)}.</p>{counts}"
            f"<div class='grid'>{''.join(cells)}</div>{blocks}{_script(view, [counts])}")
    return _shell(view, f"neuronscope: {layer}", body)


def unit_page(view: AtlasView, layer: str, unit: int, computes: Collection[str] = ()) -> str:
    """A unit's page; the server computes the on-demand sections named in `computes`."""
    n = view.n_units(layer)
    prev = (f"<a href='{esc(view.unit_url(layer, unit - 1))}'>&larr; {unit - 1}</a> · "
            if unit > 0 else "")
    nxt = (f" · <a href='{esc(view.unit_url(layer, unit + 1))}'>{unit + 1} &rarr;</a>"
           if unit + 1 < n else "")
    nav = (f"<p class='neighbors'>{prev}<a href='{esc(view.layer_url(layer))}'>{esc(layer)}</a>"
           f"{nxt}</p>")
    spec = view.manifest.get("model", {}).get("spec", {})
    classes, vocab = spec.get("classes", []), spec.get("vocab") or ""
    last = [name for name in view.manifest.get("order", []) if name in view.manifest["layers"]]
    output = bool(last) and layer == last[-1] and unit < n
    named = (f" <span class='muted'>class “{esc(classes[unit])}”</span>"
             if output and n == len(classes) else
             f" <span class='muted'>the character {esc(repr(vocab[unit]))}</span>"
             if output and n == len(vocab) else "")
    parts = [f"<h1>{esc(layer)}:{unit}{named}</h1>", nav]
    parts += [(_missing(view, s, layer, unit, s.name in computes) if _open(view, s, layer) else "")
              or s.unit_html(view, layer, unit) for s in page_sections()]
    parts.append(_script(view, parts))
    return _shell(view, f"neuronscope: {layer}:{unit}", "".join(parts))


def section_page(view: AtlasView, section: Section) -> str | None:
    """A section's page of its own (`Section.page_html`), or None when it has none."""
    body = section.page_html(view)
    if not body:
        return None
    name = view.manifest.get("model", {}).get("name", "model")
    return _shell(view, f"neuronscope: {name}: {section.title}", body)
