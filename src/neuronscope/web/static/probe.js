// The text probe: type text, see every token shaded by one unit's value. Wires the page
// /probe (#probe-page: a layer picker and a unit number) and every box a text model's unit
// page holds (.textprobe[data-url]: one unit, its API URL fixed).
"use strict";
(() => {
  // the path the server serves this model at ("" alone, "/models/NAME" beside others)
  const BASE = document.documentElement.dataset.base || "";

  // red positive, blue negative, white 0: the atlas's text snippets (render/examples.py)
  function shade(value, vmax) {
    const alpha = vmax > 0 ? Math.min(1, Math.abs(value) / vmax) : 0;
    return `rgba(${value >= 0 ? "220, 40, 40" : "40, 90, 220"}, ${alpha.toFixed(2)})`;
  }

  const part = (box, name) => box.querySelector(".probe-" + name);

  function say(box, text, error = false) {
    const status = part(box, "status");
    status.textContent = text;
    status.classList.toggle("error", error);
  }

  // an error: the old shading goes with it, so nothing on the page is from another request
  function fail(box, text) {
    part(box, "tokens").replaceChildren();
    part(box, "notes").replaceChildren();
    say(box, text, true);
  }

  function draw(box, res, ms) {
    const out = part(box, "tokens"), notes = part(box, "notes");
    const frag = document.createDocumentFragment();
    res.pieces.forEach((piece, i) => {
      const span = document.createElement("span"), v = res.values[i];
      span.className = (res.special[i] ? "tok special" : "tok") + (v === null ? " nan" : "");
      span.textContent = piece.replace(/\n/g, "\u21b5\n");  // newlines kept, and shown
      if (v !== null) span.style.background = shade(v, res.vmax);
      span.title = `${JSON.stringify(piece)}: ${v === null ? "NaN or infinite" : v.toFixed(3)}`;
      span.dataset.value = String(v);
      frag.appendChild(span);
    });
    out.replaceChildren(frag);
    notes.replaceChildren(...res.notes.map((n) => {
      const li = document.createElement("li"); li.textContent = n; return li;
    }));
    const n = res.pieces.length;
    say(box, `${res.layer}:${res.unit} · ${n} ${res.unit_name}${n === 1 ? "" : "s"} · ` +
             `largest |value| ${res.vmax.toFixed(3)} · ${Math.round(ms)} ms`);
  }

  async function run(box, url) {
    if (!url) return;
    const button = part(box, "run");
    button.disabled = true;
    say(box, "reading the text…");
    const start = performance.now();
    try {
      const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                   body: JSON.stringify({ text: part(box, "text").value }) });
      const res = await r.json().catch(() => ({ detail: r.statusText }));
      if (!r.ok) {
        const why = typeof res.detail === "string" ? res.detail : JSON.stringify(res.detail);
        fail(box, r.status >= 500 ? `${r.status}: ${why}` : why);  // a refusal says why
        return;
      }
      draw(box, res, performance.now() - start);
    } catch (err) {
      fail(box, "the server did not answer: " + err);
    } finally {
      button.disabled = false;
    }
  }

  function wire(box, url) {
    part(box, "run").addEventListener("click", () => run(box, url()));
    part(box, "text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(box, url()); }
    });
  }

  async function initPage(box) {
    const layer = document.getElementById("probe-layer"), unit = document.getElementById("probe-unit");
    const range = document.getElementById("probe-range");
    const r = await fetch(BASE + "/api/text/layers");
    const info = await r.json().catch(() => ({ detail: r.statusText }));
    if (!r.ok) {
      say(box, info.detail, true);
      part(box, "run").disabled = true;
      return;
    }
    const units = {};
    for (const l of info.layers) {
      units[l.name] = l.units;
      const o = document.createElement("option");
      o.value = l.name; o.textContent = `${l.name} (${l.units})`;
      layer.appendChild(o);
    }
    const query = new URLSearchParams(location.search);
    layer.value = units[query.get("layer")] ? query.get("layer") : info.default;
    unit.value = query.get("unit") || "0";
    const text = part(box, "text");
    if (query.get("text")) text.value = query.get("text");
    else if (!text.value.trim()) text.value = info.sample || "";  // code or prose, by the model
    const limits = () => {
      const n = units[layer.value] || 0;
      unit.max = String(Math.max(0, n - 1));
      range.textContent = `units 0–${n - 1} · text of up to ` +
        `${info.max_chars.toLocaleString()} characters, shaded ${info.unit_name} by ` +
        info.unit_name;
    };
    limits();
    let asked = false;  // the user has run the probe: a new layer or unit runs it again
    const url = () => {
      asked = true;
      const n = Number(unit.value), max = (units[layer.value] || 0) - 1;
      if (!Number.isInteger(n) || n < 0 || n > max) {
        fail(box, `the unit is a whole number from 0 to ${max}`);
        return null;
      }
      history.replaceState(null, "", `?layer=${encodeURIComponent(layer.value)}&unit=${n}`);
      return `${BASE}/api/text/${encodeURIComponent(layer.value)}/${n}`;
    };
    const again = () => { limits(); if (asked) run(box, url()); };
    layer.addEventListener("change", again);
    unit.addEventListener("change", again);
    wire(box, url);
  }

  for (const box of document.querySelectorAll(".textprobe")) {
    if (box.id === "probe-page") { initPage(box); continue; }
    if (location.protocol === "file:") {  // an atlas page opened from disk: no server
      say(box, `this needs the server with the model: ${box.dataset.serve}`, true);
      part(box, "run").disabled = true;
      continue;
    }
    for (const p of box.querySelectorAll(".probe-needs")) p.remove();  // served: it is here
    wire(box, () => box.dataset.url);
  }
})();
