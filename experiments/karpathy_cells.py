"""Karpathy, Johnson & Fei-Fei (2015): which cells of a character LSTM track simple
features of the text (inside a string literal, inside a comment, bracket depth,
indentation, position in the line, ...)?

For the zoo's pysource-lstm, on held-out text (whole files of the pysource test split,
which the model never trained on), every cell of ``lstm.tanh_c`` (tanh of the cell state,
what the paper colours text by) is correlated (Pearson r, over characters) with every
feature track of `neuronscope.methods.cells` (Python's tokenizer for strings, comments,
brackets, blocks, keywords). Printed: per track the best cells and their r, and how many
cells reach |r| >= 0.5; the best string cell read as the raw cell state ``lstm.c`` and as
the hidden state ``lstm.h`` too; also the model's own test metrics. Written: an HTML
page with the best string cell and the best bracket / indentation cell shaded over a
stretch of code, and their top snippets; the result file (``cells.safetensors``) and the
numbers (``cells.json``).

    .venv/bin/python experiments/karpathy_cells.py [--chars 222222] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import neuronscope as ns
from neuronscope.data.pysource import corpus_text
from neuronscope.methods.cells import TRACKS, cell_values, encode_text, explain_cells
from neuronscope.render.cells import cell_html, snippets_html
from neuronscope.render.html import esc, page, table, write_text

LAYER = "lstm.tanh_c"
OTHERS = ("lstm.c", "lstm.h")  # the same cells read otherwise: their best string cell
STRUCTURE = ("bracket_depth", "block_depth", "indent")  # the "bracket / indent" cell


def stretch(text: str, length: int = 2500) -> int:
    """Where a stretch of code with strings, brackets and indentation starts: the first
    line that starts a ``def`` after the first 20% of the text."""
    at = text.find("\n    def ", len(text) // 5)
    return at + 1 if at >= 0 else 0


def values_over(model: torch.nn.Module, text: str, start: int, length: int, cells: list[int],
                context: int = 128) -> torch.Tensor:
    """The cells' values [length, len(cells)] over text[start:start + length], fed with
    `context` characters before it (as explain_cells feeds windows)."""
    lo = max(0, start - context)
    ids = encode_text(text[lo:start + length], model.input_spec.vocab, "replace")
    parts = [v for _, v in cell_values(model, ids, LAYER, window=128, context=64,
                                       progress=False)]
    return torch.cat(parts)[start - lo:][:, cells]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=None,
                        help="held-out characters (whole files; default the test split's "
                             "default budget, 222,222)")
    parser.add_argument("--out", default="neuronscope-out/karpathy-cells")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = ns.zoo.load("pysource-lstm")
    metrics = getattr(model, "zoo_metrics", {})
    text = corpus_text("test", args.chars)
    started = time.perf_counter()
    res = explain_cells(model, text, "python", layer=LAYER, unknown="replace")
    took = time.perf_counter() - started
    res.save(out / "cells.safetensors")
    s = res.summary()

    print(f"pysource-lstm: {res.r.shape[0]} cells of {LAYER}; test accuracy "
          f"{metrics.get('test_accuracy', float('nan')):.1%}, "
          f"{metrics.get('test_bits_per_char', float('nan')):.2f} bits/char; trained in "
          f"{metrics.get('seconds', float('nan')):.0f} s")
    print(f"held-out text: {len(text):,} characters (whole test-split files), tracks "
          f"'{res.mode}', {took:.0f} s; windows of {res.settings['window']} characters, "
          f"{res.settings['context']} of context")
    for note in res.notes:
        print(f"note: {note}")
    rows = []
    print(f"\n{'track':<14} {'best cells (cell: r)':<42} {'|r|>=0.5':>8}")
    for t in res.tracks:
        top = res.top_cells(t, 3)
        cells = "  ".join(f"{c}:{r:+.2f}" for c, r in top)
        print(f"{t:<14} {cells:<42} {s['per_track'][t]:>8}")
        rows.append([t, cells, s["per_track"][t], TRACKS[t].description])
    print(f"\ncells with some |r| >= 0.5: {s['n_over']} of {s['n_cells']}")
    string_cell, string_r = res.top_cells("in_string", 1)[0]
    print(f"best string cell: {LAYER}:{string_cell}, r = {string_r:+.2f} "
          f"(the issue's bar: |r| >= 0.6 -> {'PASS' if abs(string_r) >= 0.6 else 'FAIL'})")
    string_best = res.best_tracks[string_cell]  # what the cell tracks best of all
    if string_best != "in_string":
        print(f"  but it tracks {string_best} better (r = "
              f"{float(res.best_r[string_cell]):+.2f}): "
              + ("a prose cell (on in strings and comments alike), not a string cell"
                 if string_best == "in_prose" else f"more a {string_best} cell"))
    others = {}
    for layer in OTHERS:
        cell, r = explain_cells(model, text, "python", layer=layer, unknown="replace",
                                progress=False).top_cells("in_string", 1)[0]
        others[layer] = [cell, r]
        print(f"  read as {layer}: best string cell {layer}:{cell}, r = {r:+.2f}")

    # the page: the best string cell and the best bracket / indentation cell, shaded
    struct = max((res.top_cells(t, 1)[0] + (t,) for t in STRUCTURE if t in res.tracks),
                 key=lambda x: abs(x[1]))
    start, length = stretch(text), 2500
    shown = values_over(model, text, start, length, [string_cell, struct[0]])
    seg = text[start:start + length]
    body = [f"<h1>Karpathy cells in pysource-lstm ({esc(LAYER)})</h1>",
            f"<p>{len(text):,} held-out characters (whole files of the test split). Pearson r "
            f"of each cell with each track; {s['n_over']} of {s['n_cells']} cells reach "
            "|r| &ge; 0.5 with some track.</p>",
            table(rows, ["track", "best cells (cell: r)", "cells |r| >= 0.5", "what it is"],
                  numeric=[2])]
    for i, (cell, r, what) in enumerate([(string_cell, string_r, "in_string"),
                                         (struct[0], struct[1], struct[2])]):
        title = f"{LAYER}:{cell}, best for {what} (r = {r:+.2f})"
        if res.best_tracks[cell] != what:
            title += (f"; it tracks {res.best_tracks[cell]} better (r = "
                      f"{float(res.best_r[cell]):+.2f})")
        body.append(cell_html(seg, shown[:, i], title=title))
        tops = values_over(model, text, 0, min(len(text), 60_000), [cell])[:, 0]
        side = "highest" if r > 0 else "lowest"  # the end of the cell that tracks the feature
        body.append(snippets_html(text[:len(tops)], tops, k=5, context=50, largest=r > 0,
                                  title=f"{side} snippets of {LAYER}:{cell} (first 60,000 "
                                        "characters)"))
    html_path = write_text(out / "index.html", page("Karpathy cells", "\n".join(body)))
    summary = {"metrics": metrics, "n_chars": len(text), "mode": res.mode, "notes": res.notes,
               "summary": s, "string_cell": [string_cell, string_r], "string_cell_as": others,
               "string_cell_best_track": [string_best, float(res.best_r[string_cell])],
               "structure_cell": list(struct), "seconds": took}
    (out / "cells.json").write_text(json.dumps(summary, indent=1))
    print(f"-> {html_path}, {out / 'cells.json'}, {out / 'cells.safetensors'}")


if __name__ == "__main__":
    main()
