"""The probe section: on a text model's unit page, a box to test your own text (as on
Neuronpedia): type some, and every token is shaded by the unit's value there, computed
live by the server (``POST /api/text/{layer}/{unit}``, `neuronscope.web.routes_text`).

Nothing is computed when the atlas is built: the box needs the server with the model
(``neuronscope serve ATLAS --model MODEL``); a page opened without one says so. The
page's script is the text probe's own (``static/probe.js``), which wires every box.
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import quote

from . import Section, register_section


def is_text(view: Any) -> bool:
    """Whether the atlas is of a text model (its manifest says so, or the server serving
    it has a text model).

    Example:
        >>> from types import SimpleNamespace
        >>> is_text(SimpleNamespace(manifest={"model": {"spec": {"kind": "text"}}}))
        True
    """
    kind = view.manifest.get("model", {}).get("spec", {}).get("kind")
    return kind == "text" or bool(getattr(view, "text_probe", False))


def serve_line(view: Any) -> str:
    """The command that serves this atlas with its model (the model as the atlas names it,
    MODEL when it names none)."""
    name = str(view.manifest.get("model", {}).get("name") or "")
    return shlex.join(["neuronscope", "serve", str(view.store.root), "--model",
                       name if name and name != "model" else "MODEL"])


@register_section
class Probe(Section):
    """No computing (scope ``"model"``, nothing stored); a box on unit pages of layers
    with a value per token."""

    name, title, scope = "probe", "Test your own text", "model"
    needs = ("text_model",)
    order, page_order = 96, 21  # computed (nothing) last; shown after the dataset examples

    def compute_model(self, job: Any) -> dict[str, Any]:
        return {}

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        shape = view.manifest["layers"].get(layer, {}).get("facts", {}).get("shape")
        if not is_text(view) or (shape is not None and len(shape) != 2):
            return ""  # not a text model, or a layer without a value per token
        esc = view.esc
        api = view.url(f"/api/text/{quote(layer, safe='')}/{unit}")
        page = view.url(f"/probe?layer={quote(layer, safe='')}&unit={unit}")
        return (f"{view.heading(self)}<div class='textprobe' data-url='{esc(api)}' "
                f"data-serve='{esc(serve_line(view))}'><p class='muted'>Type some text to "
                "see this unit's value at every token (red positive, blue negative, white 0; "
                f"hover a token for its value). The <a href='{esc(page)}'>text probe</a> picks "
                "any unit.</p><p class='muted probe-needs'>The server runs the model: this "
                f"needs <code>{esc(serve_line(view))}</code>.</p>"
                "<textarea class='probe-text' rows='3' spellcheck='false' placeholder='Type "
                "some text, then Ctrl+Enter'></textarea><div><button class='probe-run' "
                "type='button'>Shade the text</button> <span class='probe-status muted'>"
                "</span></div><ul class='probe-notes'></ul><div class='probe-tokens'></div>"
                f"</div><script src='{esc(view.url('/static/probe.js'))}'></script>")
