"""The front page of a server that serves several atlases: one card per model, with a
picture, its facts, and links to its atlas, its live page and its sections' own pages."""

from __future__ import annotations

from collections.abc import Sequence

from ..atlas.sections import page_sections
from ..atlas.view import AtlasView
from ..render.html import esc, page
from .pages import css, model_name, reads_text


def chooser_page(atlases: Sequence[tuple[AtlasView, bool]], base: str = "",
                 descriptions: Sequence[str] = ()) -> str:
    """The page listing `atlases` (each a view under its own path, and whether its model
    is served for the live page and on-demand units) with the models' `descriptions` (in
    the same order, or none); `base` is where the page is.

    Example:
        >>> import tempfile
        >>> from neuronscope.atlas.store import AtlasStore
        >>> store = AtlasStore(tempfile.mkdtemp())
        >>> store.manifest["model"] = {"name": "zoo:shapes-cnn"}
        >>> html = chooser_page([(AtlasView(store, base="/models/shapes-cnn"), True)])
        >>> "href='/models/shapes-cnn/live'" in html and ">shapes-cnn<" in html
        True
        >>> store.manifest["model"] = {"name": "zoo:pysource-lstm", "spec": {"kind": "text"}}
        >>> html = chooser_page([(AtlasView(store, base="/models/lstm"), False)])
        >>> "href='/models/lstm/probe'>text probe<" in html
        True
    """
    told = (list(descriptions) + [""] * len(atlases))[:len(atlases)]
    cards = "".join(_card(view, live, text)
                    for (view, live), text in zip(atlases, told, strict=True))
    body = ("<h1>neuronscope</h1>"
            f"<p class='muted'>{len(atlases)} models. Each has an atlas (a page per layer and "
            "per unit) and, with its model served, a live page that runs it on what you give "
            "it: a photo, an upload or your webcam, a sound or your microphone.</p>"
            f"<div class='models'>{cards}</div>")
    return page("neuronscope: models", css(base) + body)


def _card(view: AtlasView, live: bool, description: str = "") -> str:
    name = model_name(view.manifest)
    picture = next((t for s in page_sections() if (t := s.model_thumbnail(view))),
                   "<div class='nothumb'></div>")
    links = [f"<a href='{esc(view.url('/'))}'>atlas</a>"]
    if live:
        links.append(f"<a href='{esc(view.url('/live'))}'>live</a>")
    elif reads_text(view):
        links.append(f"<a href='{esc(view.url('/probe'))}'>text probe</a>")
    links += [f"<a href='{esc(view.section_url(s.name))}'>{esc(s.title.lower())}</a>"
              for s in page_sections() if s.page_html(view)]
    return (f"<div class='model-card'><a class='thumb' href='{esc(view.url('/'))}'>{picture}"
            f"</a><div><h2><a href='{esc(view.url('/'))}'>{esc(name)}</a></h2>"
            f"{f'<p>{esc(description)}</p>' if description else ''}{_facts(view, live)}"
            f"<p class='links'>{' · '.join(links)}</p></div></div>")


NOUNS = {"image": "images", "audio": "spectrograms", "text": "texts", "vector": "vectors"}


def _facts(view: AtlasView, live: bool) -> str:
    """The model's input and classes, and what its atlas holds."""
    m = view.manifest
    spec, data = m.get("model", {}).get("spec", {}), m.get("data", {})
    shape = "x".join(map(str, spec.get("shape", [])))
    classes = len(spec.get("classes", []))
    noun = NOUNS.get(spec.get("kind", ""), "inputs")
    inputs = f"{noun} of {shape}" if shape else "inputs"
    inputs += f", {classes:,} classes" if classes else ""
    layers = [n for n in m.get("order", list(m.get("layers", {}))) if n in m.get("layers", {})]
    units = sum(view.n_units(n) for n in layers)
    done: list[str] = []
    for entry in [*(m["layers"][n] for n in layers), m.get("sections", {})]:
        for key, info in entry.items():
            if key not in done and isinstance(info, dict) and "skipped" not in info:
                done.append(key)
    titles = [s.title for s in page_sections() if s.name in done]
    n = data.get("n")
    atlas = (f"{len(layers)} layer{'s' if len(layers) != 1 else ''}, {units:,} units, on "
             f"{f'{n:,}' if isinstance(n, int) else '?'} inputs"
             f"{' of ' + data['name'] if data.get('name') else ''}")
    open_ = [s.title for s in page_sections() if s.on_demand
             and any(view.entry(n, s.name) is None for n in layers)]
    demand = (f"; {', '.join(open_)} computed when a unit's page is opened"
              if live and open_ else "")
    return (f"<p>{esc(inputs)}</p><p class='muted'>atlas: {esc(atlas)}; "
            f"{esc(', '.join(titles) or 'nothing computed yet')}{esc(demand)}</p>")
