"""Dieleman 2014 (units of a music network that respond to vibrato singing or to drums),
on the built-in sound network: are there units of tones-cnn's last conv layer whose top
dataset examples are mostly vibrato notes, or mostly percussive sounds?

For each of the 64 units of ``conv4`` (the last conv layer; its output before batch
norm and ReLU, ranked by the maximum over time-frequency positions), its top 9 clips of
the tones test split (1,200 clips, 200 per class) by ``ns.top_examples``; a unit is
named "vibrato" when at least 7 of its 9 are vibrato notes, "percussive" when at least
7 of 9 hold a drum hit (the percussion class, or a tonal clip with a drum under it: a
fifth of them). Beside the count, how likely 7 of 9 would be by chance (binomial, at
the test split's base rate), and for each named unit the ROC AUC of its maximum over
all 1,200 test clips for that property (does the unit separate it everywhere, not only
at the top?) and how many of its top 9 are drum hits under notes (a drum detector, not
a class detector). Named units' top clips are written as spectrograms with WAV clips
in an HTML page.

    .venv/bin/python experiments/tones_units.py [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from sklearn.metrics import roc_auc_score

import neuronscope as ns
from neuronscope.methods.examples.show import field_of, unit_examples
from neuronscope.render.grid import save_png
from neuronscope.render.kinds.audio import AudioKind, clip_html, spectrogram_image, write_wav

LAYER, K, AT_LEAST = "conv4", 9, 7
SHORT = {"sine": "sin", "harmonic": "har", "vibrato": "vib", "chord": "chd",
         "percussion": "prc", "silence": "sil"}


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


@torch.no_grad()
def unit_maxima(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Each unit's maximum over positions of `LAYER`, per clip: [N, units]."""
    out = []
    for i in range(0, len(X), 256):
        with ns.record(model, [LAYER]) as rec:
            model(X[i:i + 256])
        out.append(rec[LAYER].amax((2, 3)))
    return torch.cat(out)


def analyse(model: torch.nn.Module, data: Any) -> dict[str, Any]:
    res = ns.top_examples(model, data, layers=[LAYER], k=K, progress=False)
    ex = res[LAYER]
    vibrato, percussive = data.column("vibrato"), data.column("percussive")
    classes = data.column("class")
    maxima = unit_maxima(model, data.tensors()[0])
    units = []
    for u in range(ex.n_units):
        idx = [int(i) for i in ex.indices[u].tolist()]
        n_vib, n_perc = int(vibrato[idx].sum()), int(percussive[idx].sum())
        under = sum(1 for i in idx if percussive[i] and classes[i] != "percussion")
        drums = Counter(d for i in idx for d in data.meta(i)["drums"])
        names = [k for k, n in (("vibrato", n_vib), ("percussive", n_perc)) if n >= AT_LEAST]
        row = {"unit": u, "indices": idx, "values": ex.values[u].tolist(),
               "classes": Counter(str(classes[i]) for i in idx), "vibrato": n_vib,
               "percussive": n_perc, "drums_under_notes": under, "drums": drums,
               "named": names}
        for key, flags in (("vibrato", vibrato), ("percussive", percussive)):
            row[f"auc_{key}"] = float(roc_auc_score(flags, maxima[:, u].numpy()))
        units.append(row)
    return {"units": units, "base": {"vibrato": float(vibrato.mean()),
                                     "percussive": float(percussive.mean())}, "ex": ex}


def write_page(model: torch.nn.Module, data: Any, result: dict[str, Any], out: Path) -> Path:
    """index.html: for each named unit, its top-9 grid (receptive field outlined at each
    maximum) and every clip as a spectrogram with an <audio> element (WAV files)."""
    out.mkdir(parents=True, exist_ok=True)
    kind, ex = AudioKind(), result["ex"]
    field = field_of(model, ex, data)
    parts = ["<!doctype html><meta charset='utf-8'><title>tones-cnn units</title>",
             "<style>body{font-family:sans-serif} figure.clip{display:inline-block;"
             "margin:4px;font-size:12px} .muted{color:#555}</style>",
             f"<h1>tones-cnn {LAYER}: units whose top {K} test clips are mostly vibrato "
             "or mostly percussive</h1>"]
    named = [r for r in result["units"] if r["named"]]
    if not named:
        parts.append("<p>None.</p>")
    for row in named:
        u = row["unit"]
        shown = unit_examples(model, data, ex, u, field=field)
        save_png(kind.examples(shown), out / f"unit{u}_top.png")
        parts.append(f"<h2>{LAYER}:{u} ({', '.join(row['named'])}): vibrato {row['vibrato']}/9, "
                     f"percussive {row['percussive']}/9; AUC vibrato {row['auc_vibrato']:.2f}, "
                     f"percussive {row['auc_percussive']:.2f}</h2>"
                     f"<img src='unit{u}_top.png' alt='top examples'><br>")
        for rank, (i, v) in enumerate(zip(row["indices"], row["values"], strict=True)):
            stem = f"unit{u}_{rank}_item{i}"
            spectrogram_image(data[i][0], data.spec, scale=3).save(out / f"{stem}.png")
            write_wav(out / f"{stem}.wav", data.waveform(i), data.sample_rate)
            meta = data.meta(i)
            timbre = f", {meta['timbre']}" if meta["timbre"] != "none" else ""
            title = (f"#{rank + 1} item {i}: {meta['class']}{timbre}"
                     f"{', vibrato' if meta['vibrato'] else ''}"
                     f"{', drums ' + '+'.join(meta['drums']) if meta['drums'] else ''}; "
                     f"act {v:.3g}")
            parts.append(clip_html(f"{stem}.png", f"{stem}.wav", title))
    page = out / "index.html"
    page.write_text("\n".join(parts) + "\n")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="neuronscope-out/tones-units")
    args = parser.parse_args()
    start = time.perf_counter()
    model = ns.zoo.load("tones-cnn")
    data = ns.datasets.load("tones", split="test")
    result = analyse(model, data)
    took = time.perf_counter() - start
    acc = getattr(model, "zoo_metrics", {}).get("test_accuracy")
    base = result["base"]
    print(f"tones-cnn (test accuracy {acc:.4f}), layer {LAYER}, top {K} of {len(data)} test "
          f"clips per unit ({took:.0f} s, {torch.get_num_threads()} threads)")
    print(f"base rates: vibrato {base['vibrato']:.3f}, percussive {base['percussive']:.3f}; "
          f"P(>= {AT_LEAST}/{K} by chance): vibrato "
          f"{binomial_tail(K, AT_LEAST, base['vibrato']):.1e}, percussive "
          f"{binomial_tail(K, AT_LEAST, base['percussive']):.1e}")
    print(f"\n{'unit':>5}  {'top-9 classes':<28} {'vib':>3} {'perc':>4} {'under':>5} "
          f"{'AUCvib':>6} {'AUCperc':>7}  named")
    for r in result["units"]:
        cls = " ".join(f"{SHORT[c]}{n}" for c, n in r["classes"].most_common())
        print(f"{r['unit']:>5}  {cls:<28} {r['vibrato']:>3} {r['percussive']:>4} "
              f"{r['drums_under_notes']:>5} {r['auc_vibrato']:>6.2f} {r['auc_percussive']:>7.2f}"
              f"  {', '.join(r['named'])}")
    for key in ("vibrato", "percussive"):
        units = [r for r in result["units"] if key in r["named"]]
        listed = ", ".join(
            f"{LAYER}:{r['unit']} ({r[key]}/9, AUC {r['auc_' + key]:.2f}"
            + (f"; {' '.join(f'{d}{n}' for d, n in r['drums'].most_common())}"
               if key == "percussive" else "") + ")" for r in units)
        print(f"\n{key} units (>= {AT_LEAST}/{K} of the top {K}): {len(units)} of "
              f"{len(result['units'])}" + (f": {listed}" if units else "; none"))
    page = write_page(model, data, result, Path(args.out))
    print(f"\nwritten: {page} (spectrograms and WAV clips of the named units)")


if __name__ == "__main__":
    main()
