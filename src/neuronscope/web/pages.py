"""HTML pages of the microscope, made from an atlas folder (no templates, no build step)."""

from __future__ import annotations

from typing import Any

from ..atlas.store import AtlasStore
from ..render.html import esc, page

NAV = ("<nav><a href='/'>model</a> · <a href='/live'>live</a></nav>")
CSS = "<link rel='stylesheet' href='/static/style.css'>"


def _shell(title: str, body: str) -> str:
    return page(title, CSS + NAV + body)


def _file(relative: str, alt: str, cls: str = "") -> str:
    return f"<img class='{cls}' src='/files/{esc(relative)}' alt='{esc(alt)}' loading='lazy'>"


def _units(atlas: AtlasStore, layer: str, section: str) -> dict[str, Any] | None:
    info = atlas.manifest["layers"].get(layer, {}).get(section)
    if not info or "units" not in info:
        return None
    try:
        return atlas.read_json(info["units"])
    except (OSError, ValueError):
        return None


def model_page(atlas: AtlasStore) -> str:
    m = atlas.manifest
    rows = []
    for layer in m.get("order", list(m["layers"])):
        entry = m["layers"].get(layer, {})
        facts = entry.get("facts", {})
        rf = facts.get("receptive_field")
        rf_text = "x".join(map(str, rf["size"])) + " px" if rf else ""
        done = ", ".join(k for k in entry if k != "facts") or "nothing yet"
        rows.append(f"<tr><td><a href='/layer/{esc(layer)}'>{esc(layer)}</a></td>"
                    f"<td>{esc(facts.get('kind', ''))}</td><td class='num'>"
                    f"{facts.get('n_units', '')}</td><td>{esc(rf_text)}</td>"
                    f"<td class='muted'>{esc(done)}</td></tr>")
    weights = "".join(f"<figure>{_file(f, 'weights of ' + name, 'weights')}<figcaption>"
                      f"{esc(name)}</figcaption></figure>"
                      for name, f in m.get("sections", {}).get("weights", {}).items())
    model, data = m.get("model", {}), m.get("data", {})
    body = (f"<h1>{esc(model.get('name', 'model'))}</h1><p class='muted'>atlas on "
            f"{data.get('n', '?')} inputs of {esc(data.get('name', ''))}. Click a layer for its "
            "units; <a href='/live'>live</a> shows every layer's response to an image.</p>"
            "<table id='layers'><tr><th>layer</th><th>kind</th><th>units</th><th>receptive "
            f"field</th><th>sections</th></tr>{''.join(rows)}</table>"
            + (f"<h2>Weights</h2>{weights}" if weights else ""))
    return _shell(f"neuronscope: {model.get('name', 'model')}", body)


def layer_page(atlas: AtlasStore, layer: str) -> str:
    entry = atlas.manifest["layers"][layer]
    n = entry.get("facts", {}).get("n_units", 0)
    ablation = _units(atlas, layer, "ablation")
    order = ablation["by_importance"] if ablation else list(range(n))
    cells = []
    for u in order:
        img = (_file(f"featvis/{layer}/unit-{u:04d}-pos0.png", f"unit {u}")
               if "featvis" in entry else f"<span class='muted'>{u}</span>")
        label = f"{u}" + (f" ({ablation['importance'][u]:+.3f})" if ablation else "")
        cells.append(f"<a class='cell' href='/layer/{esc(layer)}/unit/{u}'>{img}"
                     f"<span>{esc(label)}</span></a>")
    dream = ""
    if "dream" in entry and "image" in entry["dream"]:
        dream = (f"<h2>DeepDream</h2><figure>{_file(f'layers/{layer}/dream-source.png', 'photo')}"
                 f"</figure><figure>{_file(entry['dream']['image'], 'dream')}</figure>")
    how = "most important first (accuracy lost when silenced)" if ablation else "in order"
    body = (f"<h1>{esc(layer)}</h1><p class='muted'>{n} units, {how}.</p>"
            f"<div class='grid'>{''.join(cells)}</div>{dream}")
    return _shell(f"neuronscope: {layer}", body)


def _histogram(hist: list[int], edges: list[float]) -> str:
    top = max(hist) or 1
    w = 4
    bars = "".join(f"<rect x='{i * w}' y='{60 - 60 * c / top:.1f}' width='{w - 1}' "
                   f"height='{60 * c / top:.1f}'/>" for i, c in enumerate(hist))
    return (f"<svg class='hist' viewBox='0 0 {len(hist) * w} 60' width='{len(hist) * w * 2}' "
            f"height='120'>{bars}</svg><div class='muted'>from {edges[0]:.3g} to "
            f"{edges[-1]:.3g}</div>")


def unit_page(atlas: AtlasStore, layer: str, unit: int) -> str:
    entry = atlas.manifest["layers"][layer]
    n = entry.get("facts", {}).get("n_units", 0)
    prev = (f"<a href='/layer/{esc(layer)}/unit/{unit - 1}'>&larr; {unit - 1}</a> · "
            if unit > 0 else "")
    nxt = (f" · <a href='/layer/{esc(layer)}/unit/{unit + 1}'>{unit + 1} &rarr;</a>"
           if unit + 1 < n else "")
    nav = f"<p class='neighbors'>{prev}<a href='/layer/{esc(layer)}'>{esc(layer)}</a>{nxt}</p>"
    classes = atlas.manifest.get("model", {}).get("spec", {}).get("classes", [])
    last = [n for n in atlas.manifest.get("order", []) if n in atlas.manifest["layers"]]
    named = (f" <span class='muted'>class “{esc(classes[unit])}”</span>"
             if last and layer == last[-1] and n == len(classes) and unit < n else "")
    parts = [f"<h1>{esc(layer)}:{unit}{named}</h1>", nav]
    fv = _units(atlas, layer, "featvis")
    if fv:
        imgs = "".join(_file(f"featvis/{layer}/unit-{unit:04d}-pos{s}.png", f"start {s}")
                       for s in range(fv["n_starts"]))
        acts = ", ".join(f"{a:.3g}" for a in fv["positive"][unit])
        weak = (" The optimization did not raise this unit above zero in "
                f"{fv['steps']} steps: its images say little." if max(fv["positive"][unit]) <= 0
                else "")
        parts.append(f"<h2>Feature visualization</h2><div class='row'>{imgs}"
                     f"{_file(f'featvis/{layer}/unit-{unit:04d}-neg.png', 'negative')}</div>"
                     f"<p class='muted'>Synthetic images from noise. Left: {fv['n_starts']} "
                     f"starts that drive the unit up (its mean over positions: {acts}); right: "
                     f"one that drives it down ({fv['negative'][unit]:.3g}). The dataset "
                     f"numbers below are per-input maxima, not means.{weak}</p>")
    ex = _units(atlas, layer, "examples")
    if ex:
        u = ex["units"][unit]
        parts.append(
            "<h2>Dataset examples</h2><figure>"
            f"{_file(f'examples/{layer}/unit-{unit:04d}-top.png', 'top examples')}"
            "<figcaption>highest</figcaption></figure><figure>"
            f"{_file(f'examples/{layer}/unit-{unit:04d}-bottom.png', 'bottom examples')}"
            "<figcaption>lowest</figcaption></figure><figure>"
            f"{_file(f'examples/{layer}/unit-{unit:04d}-random.png', 'random examples')}"
            "<figcaption>random, by quantile band (low to high)</figcaption></figure>"
            f"<h2>Activation ({esc(ex['reduce'])} per input)</h2>"
            f"<p>mean {u['mean']:.3g}, std {u['std']:.3g}, positive {u['positive']:.0%} of "
            f"{ex['count']:,} inputs</p>{_histogram(u['hist'], u['edges'])}")
    ab = _units(atlas, layer, "ablation")
    if ab:
        parts.append(f"<h2>Lesion</h2><p>silenced alone, accuracy changes by "
                     f"{-ab['importance'][unit]:+.4f} (baseline {ab['baseline']:.4f} on "
                     f"{ab['n']} inputs); class selectivity {ab['selectivity'][unit]:.3f}; rank "
                     f"{ab['by_importance'].index(unit) + 1} of {n} by importance.</p>")
    parts.append("<h2>Concept</h2><p class='muted'>no dissection label yet (network "
                 "dissection has not landed).</p>")
    return _shell(f"neuronscope: {layer}:{unit}", "".join(parts))
