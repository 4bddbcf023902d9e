"""The loss change allocation section: the model page links the LCA report (which layers
helped or hurt while the model was trained; `neuronscope lca`) when the atlas holds one.

The report lives in the atlas at ``lca/index.html`` (`REPORT`), with its figures and the
run's ``lca.safetensors`` beside it. It gets there in either of two ways: the build
option ``lca`` names a finished run (a folder holding ``lca.safetensors``, as
``neuronscope lca --out DIR`` writes, or the file itself), which the build copies into
the atlas and draws the report of; or the run writes into the atlas itself
(``neuronscope lca MODEL --epochs N --out ATLAS/lca``), which the model page finds with
no build at all. An LCA run trains its own copy of the model from scratch, so the page
says which run it was and warns when it names another model than the atlas.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from ...core.errors import NeuronscopeError
from ...core.files import atomic_path
from ...methods.lca import LCAResult
from ...methods.lca.train import RESULT
from ...render.lca_report import INDEX, median_relative_error, write_report
from ..store import AtlasStore
from . import Section, register_section

FOLDER = AtlasStore.section_folder("lca")  # the report's folder inside the atlas
REPORT = f"{FOLDER}/{INDEX}"
SKIPPED = ("no LCA report: run `neuronscope lca MODEL --epochs N --out ATLAS/lca`, or build "
           "with the option lca=DIR (a folder holding lca.safetensors)")


def source_file(source: str | Path) -> Path:
    """The ``lca.safetensors`` that `source` (the file, or a run's folder) names."""
    path = Path(source).expanduser()
    path = path / RESULT if path.is_dir() else path
    if not path.is_file():
        raise NeuronscopeError(f"lca: {str(source)!r} holds no {RESULT}; give the --out "
                               "folder of a finished `neuronscope lca` run, or the file")
    return path


def summary(res: LCAResult) -> dict[str, Any]:
    """What the model page says of a run, JSON-ready (kept in the manifest)."""
    totals = res.layer_totals()
    recipe = res.settings.get("recipe", {})
    return {"model": res.settings.get("model"), "steps": res.n_steps,
            "epochs": recipe.get("epochs"), "optimizer": recipe.get("optimizer"),
            "method": res.method, "helping": round(float(res.helping.mean()), 4),
            "error": median_relative_error(res),
            "backwards": [layer for layer, t in totals.items() if t > 0]}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@register_section
class LossChangeAllocation(Section):
    """Model-wide and cheap: no training here, only the report of a run (drawn when the
    ``lca`` option names one) and a link to it."""

    name, title, scope = "lca", "Loss change allocation", "model"
    order = 95  # last; a wrong path is refused by check_options before any work
    options: dict[str, Any] = {"lca": None}

    def check_options(self, options: dict[str, Any]) -> None:
        if options.get("lca"):
            source_file(options["lca"])

    def _run(self, job: Any) -> Path | None:
        """The run's lca.safetensors: the option's, else one written into the atlas."""
        source = job.option("lca", self)
        if source:
            return source_file(source)
        here = job.store.path(f"{FOLDER}/{RESULT}")
        return here if here.is_file() else None

    def outdated(self, job: Any, entry: dict[str, Any]) -> bool:
        """Again when the run is another than the one recorded, or when a report has
        appeared (or gone) since the last build."""
        run = self._run(job)
        if run is not None:
            return entry.get("digest") != _digest(run)
        return ("skipped" in entry) == job.store.path(REPORT).is_file()

    def compute_model(self, job: Any) -> dict[str, Any]:
        run, report = self._run(job), job.store.path(REPORT)
        res = LCAResult.load(run) if run is not None else None
        if res is not None and job.option("lca", self):  # copied in: the atlas stands alone
            spec = job.spec
            write_report(res, report.parent, input_shape=spec.shape if spec else None)
            with atomic_path(report.parent / RESULT) as tmp:
                shutil.copyfile(run, tmp)
        if not report.is_file():
            return {"skipped": SKIPPED}
        if res is None:
            return {"report": REPORT}
        return {"report": REPORT, "digest": _digest(run), **summary(res)}

    def model_html(self, view: Any) -> str:
        if not view.store.path(REPORT).is_file():
            return ""
        entry = view.manifest.get("sections", {}).get(self.name, {})
        entry = {} if "skipped" in entry else entry
        link = view.link(view.file_url(REPORT), "Loss change allocation")
        text = f"<p>{link}: which layers and parameters helped or hurt while the model trained"
        if entry.get("steps"):
            back = ", ".join(entry.get("backwards") or []) or "none"
            text += (f" ({entry['steps']} steps, {entry.get('epochs')} epochs with "
                     f"{view.esc(entry.get('optimizer'))}; on average "
                     f"{entry['helping']:.1%} of the parameters helped per step; went "
                     f"backwards: {view.esc(back)})")
        text += (".</p><p class='muted'>The run trained its own copy of "
                 f"{view.esc(entry.get('model') or 'the model')} from scratch: its weights "
                 "are the atlas's only if it ran the same recipe.</p>")
        atlas = str(view.manifest.get("model", {}).get("name", "")).removeprefix("zoo:")
        if entry.get("model") and atlas and entry["model"] != atlas:
            text += (f"<p class='muted'><b>Caution</b>: the run is of {view.esc(entry['model'])}"
                     f", not of this atlas's model ({view.esc(atlas)}).</p>")
        return view.heading(self) + text
