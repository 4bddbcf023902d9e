"""Small helpers to write static HTML pages: escaping, tables, a page shell."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from ..core.files import atomic_write

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0 1.5rem 1.5rem 0; vertical-align: top; }
figure img { image-rendering: pixelated; border: 1px solid #ccc; max-width: 100%; }
figcaption { font-size: 0.85rem; color: #555; max-width: 480px; }
.muted { color: #777; }
"""


def esc(value: object) -> str:
    """HTML-escape any value's text."""
    return html.escape(str(value))


def table(rows: Sequence[Sequence[object]], header: Sequence[str],
          numeric: Sequence[int] = ()) -> str:
    """An HTML table; columns listed in `numeric` are right-aligned.

    Example:
        >>> table([["conv1", 32]], ["layer", "units"], numeric=[1]).count("<tr>")
        2
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{esc(v)}</td>' if i in numeric else f"<td>{esc(v)}</td>"
            for i, v in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def figure(src: str, caption: str, width: int | None = None) -> str:
    """An image with a caption; `src` is a path relative to the page."""
    size = f' width="{width}"' if width else ""
    return (f'<figure><img src="{esc(src)}" alt="{esc(caption)}"{size}>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def page(title: str, body: str) -> str:
    """A whole HTML document."""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>")


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically (a temporary file in the same folder, then rename)."""
    return atomic_write(path, lambda f: f.write(text), mode="w")
