"""Loss change allocation (Lan, Liu, Zhou & Yosinski, NeurIPS 2019) on digits-mlp and
digits-cnn, each trained by SGD with momentum 0.9 and by Adam, LCA on every step.

The paper's first two networks (an MNIST MLP and LeNet) at the scale of scikit-learn's
8x8 digits: 64-100-50-10 perceptron and a two-conv convnet. Per run:
- test accuracy (the 360 test digits);
- median relative allocation error per step (Simpson's rule, steps split while the error
  is over 1%) and the fraction of steps split; for digits-mlp + SGD also the first-order
  estimate (delta . grad at the step's start), its error beside Simpson's;
- the fraction of parameters helping (negative allocation) per iteration, mean and
  median (paper: barely over half, 50.7% for its MNIST FC network);
- each layer's total LCA and which layers went backwards over training (positive total);
- synchronization of per-layer LCA peaks: the mean pairwise correlation of the layers'
  per-step series, and for every pair of layers how often their top-5% iterations (most
  negative LCA: most learning) coincide, against a control in which one layer's series
  is circularly shifted by random nonzero offsets (seeded): the control's mean, z and an
  empirical p-value. The same on the series with their moving median (window about 5% of
  the run) taken off ("detrended"): every layer learns most at the start, and a shared
  learning curve alone makes raw peaks coincide; the detrended figure asks whether
  individual iterations are shared beyond that.
Settings, chosen by a sweep without LCA (10 epochs: SGD lr 0.01 / 0.05 / 0.1, Adam 1e-3 /
2e-3, all constant): SGD lr 0.05 with plain momentum 0.9 as in the paper (not the zoo's
Nesterov), Adam lr 2e-3, constant schedule, batch 32 (44 steps per epoch), seed 0,
10 epochs (440 steps): 96-97% test accuracy for all four. About 3 minutes on 2 CPU
cores. Writes ``lca_digits.json`` (all figures and the per-step series),
``<run>.lca.safetensors`` (the LCAResult), ``<run>.png`` and, where
``neuronscope.render.lca_report`` exists, a report per run.

    .venv/bin/python experiments/lca_digits.py [--out DIR] [--epochs N] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import neuronscope as ns
from neuronscope.zoo.classify import accuracy

MODELS = ("digits-mlp", "digits-cnn")
OPTIMIZERS = {
    "sgd": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False,
            "schedule": "constant"},
    "adam": {"optimizer": "adam", "lr": 2e-3, "schedule": "constant"},
}
TOP = 0.05  # the share of iterations that count as a layer's peaks
SHIFTS = 2000  # circular shifts in the control
THRESHOLD = 0.01  # Simpson splits a step while its relative error is over this


def table(rows: list[list[object]], head: list[str]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


def test_accuracy(model: torch.nn.Module) -> float:
    X, y = ns.datasets.load("digits", split="test").tensors()
    return accuracy(model, X, y)


def error_stats(res: ns.LCAResult) -> dict[str, Any]:
    """The allocation's error per step, relative to the measured loss change."""
    rel = res.relative_error
    finite = rel[torch.isfinite(rel)]
    return {"median_relative_error": float(finite.median()),
            "p90_relative_error": float(finite.quantile(0.9)),
            "max_relative_error": float(finite.max()),
            "within_threshold": float((finite <= THRESHOLD).double().mean()),
            "steps_split": float((res.splits > 0).double().mean()),
            "mean_splits": float(res.splits.double().mean()),
            "steps_without_loss_change": int((~torch.isfinite(rel)).sum())}


def helping_stats(res: ns.LCAResult) -> dict[str, Any]:
    """Fraction helping per iteration: of all parameters, and of those whose allocation is
    not exactly 0 (the original code's "helped / (helped + hurt)"). Exact zeros are
    parameters with no gradient on the evaluation set: units of a ReLU layer dead on every
    training digit (also while Adam or momentum still moves them) and always-blank pixels."""
    h, moving = res.helping, res.helping_share
    return {"mean": float(h.mean()), "median": float(h.median()), "min": float(h.min()),
            "max": float(h.max()), "mean_zero": float(res.unchanged.mean()),
            "of_nonzero_mean": float(moving.mean()), "of_nonzero_median": float(moving.median()),
            "by_layer_mean": {k: float(v.mean()) for k, v in res.layer_helping.items()},
            "by_layer_zero": {k: float((1 - v - res.layer_hurting[k]).mean())
                              for k, v in res.layer_helping.items()}}


def layer_stats(res: ns.LCAResult) -> dict[str, Any]:
    totals = res.layer_totals()
    per_param = {n: float(c.sum()) for n, c in res.cumulative.items()}
    return {"totals": totals, "positive_layers": [k for k, v in totals.items() if v > 0],
            "per_parameter": per_param,
            "positive_parameters": [k for k, v in per_param.items() if v > 0],
            "sum_of_layers": sum(totals.values()),
            "measured_loss_change": float(res.loss_change.sum())}


def moving_median(series: torch.Tensor, half: int) -> torch.Tensor:
    """[L, T] -> each series' centred moving median over 2 * half + 1 steps (edges
    replicated)."""
    padded = F.pad(series[None], (half, half), mode="replicate")[0]
    return padded.unfold(-1, 2 * half + 1, 1).median(-1).values


def peak_masks(series: torch.Tensor, top: float) -> tuple[torch.Tensor, int]:
    """[L, T] bool: each layer's `top` share of iterations with the most negative LCA."""
    k = max(1, round(top * series.shape[1]))
    masks = torch.zeros_like(series, dtype=torch.bool)
    masks.scatter_(1, series.argsort(dim=1)[:, :k], True)
    return masks, k


def circular_counts(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[T]: for every offset o, how many t have a[t] and b[(t + o) % T] (o = 0: as
    observed)."""
    n = len(a)
    fa, fb = torch.fft.rfft(a.double()), torch.fft.rfft(b.double())
    return torch.fft.irfft(fa.conj() * fb, n=n).round()


def sync_stats(res: ns.LCAResult, *, detrend: bool, top: float = TOP, shifts: int = SHIFTS,
               seed: int = 0) -> dict[str, Any]:
    """Synchronization of the layers' per-step LCA: mean pairwise correlation, and the
    coincidence of their top-`top` iterations against circular shifts."""
    names = res.layers
    series = torch.stack([res.by_layer[n] for n in names])
    T = series.shape[1]
    half = max(2, T // 40)
    if detrend:
        series = series - moving_median(series, half)
    corr = torch.corrcoef(series)
    masks, k = peak_masks(series, top)
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            counts = circular_counts(masks[i], masks[j])
            offsets = torch.randint(1, T, (shifts,), generator=g)
            null = counts[offsets] / k
            observed = float(counts[0]) / k
            sd = float(null.std())
            pairs.append({
                "layers": [names[i], names[j]], "correlation": float(corr[i, j]),
                "coincidence": observed, "control_mean": float(null.mean()),
                "control_sd": sd, "control_p95": float(null.quantile(0.95)),
                "z": (observed - float(null.mean())) / sd if sd > 0 else float("nan"),
                "p": (1 + int((null >= observed).sum())) / (1 + shifts)})
    return {"detrended": detrend, "moving_median_window": 2 * half + 1 if detrend else None,
            "top": top, "peaks_per_layer": k, "steps": T, "shifts": shifts, "seed": seed,
            "mean_correlation": sum(p["correlation"] for p in pairs) / len(pairs),
            "mean_coincidence": sum(p["coincidence"] for p in pairs) / len(pairs),
            "mean_control": sum(p["control_mean"] for p in pairs) / len(pairs),
            "pairs_p_below_0.05": sum(p["p"] < 0.05 for p in pairs), "n_pairs": len(pairs),
            "pairs": pairs}


def plot(res: ns.LCAResult, title: str, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7), dpi=100)
    ax = fig.subplots(2, 2)
    steps = res.steps.numpy()
    for name, v in res.by_layer.items():
        ax[0][0].plot(steps, v.numpy(), lw=0.7, label=name)
        ax[0][1].plot(steps, v.cumsum(0).numpy(), label=name)
    ax[0][0].set_yscale("symlog", linthresh=1e-4)
    ax[0][0].set_title("LCA per layer per step (negative: helped)")
    ax[0][1].axhline(0, color="gray", lw=0.5)
    ax[0][1].set_title("cumulative LCA per layer")
    ax[0][1].legend(fontsize=8)
    ax[1][0].plot(steps, res.helping.numpy(), lw=0.7, color="tab:green")
    ax[1][0].axhline(0.5, color="gray", lw=0.5)
    ax[1][0].set_title(f"fraction of parameters helping (mean {float(res.helping.mean()):.3f})")
    rel = res.relative_error.clamp(min=1e-12)
    ax[1][1].semilogy(steps, rel.numpy(), ".", ms=2)
    ax[1][1].axhline(THRESHOLD, color="gray", lw=0.5)
    ax[1][1].set_title(f"relative error per step ({res.method})")
    for a in ax[1]:
        a.set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png")


def report_writer() -> Any:
    """`write_report` of neuronscope.render.lca_report, where that module exists."""
    if importlib.util.find_spec("neuronscope.render.lca_report") is None:
        return None
    from neuronscope.render import lca_report

    return getattr(lca_report, "write_report", None)


def series(res: ns.LCAResult) -> dict[str, Any]:
    def r(t: torch.Tensor) -> list[float]:
        return [float(f"{float(v):.6g}") for v in t]

    return {"loss": r(res.loss), "loss_change": r(res.loss_change), "total": r(res.total),
            "error": r(res.error), "splits": res.splits.tolist(), "helping": r(res.helping),
            "by_layer": {k: r(v) for k, v in res.by_layer.items()}}


def run(name: str, opt: str, epochs: int, out: Path, quick: bool,
        method: str = "simpson") -> tuple[torch.nn.Module, ns.LCAResult, dict[str, Any]]:
    extra = {"n_train": 128} if quick else {}
    start = time.perf_counter()
    model, res = ns.train_with_lca(name, epochs=epochs, method=method,
                                   error_threshold=THRESHOLD, progress=False,
                                   **OPTIMIZERS[opt], **extra)
    seconds = time.perf_counter() - start
    tag = f"{name}-{opt}" + ("" if method == "simpson" else f"-{method}")
    res.save(out / f"{tag}.lca.safetensors")
    shifts = 200 if quick else SHIFTS
    fig = {"model": name, "optimizer": opt, "method": method, "settings": OPTIMIZERS[opt],
           "epochs": epochs, "steps": res.n_steps, "seconds": round(seconds, 1),
           "test_accuracy": test_accuracy(model), "final_train_loss": float(res.loss[-1]),
           "error": error_stats(res), "helping": helping_stats(res),
           "layers": layer_stats(res)}
    if method == "simpson":
        fig["sync"] = sync_stats(res, detrend=False, shifts=shifts)
        fig["sync_detrended"] = sync_stats(res, detrend=True, shifts=shifts)
        plot(res, f"{tag}: {res.n_steps} steps, test accuracy {fig['test_accuracy']:.3f}",
             out / f"{tag}.png")
    fig["series"] = series(res)
    print(f"  {tag}: {res.n_steps} steps in {seconds:.1f} s, test accuracy "
          f"{fig['test_accuracy']:.4f}", flush=True)
    return model, res, fig


def held(ok: bool) -> str:
    return "HELD" if ok else "DID NOT HOLD"


def conclusions(runs: dict[str, dict[str, Any]]) -> None:
    print("\nThe paper's three claims on these networks:")
    means = {k: r["helping"]["mean"] for k, r in runs.items()}
    nonzero = {k: r["helping"]["of_nonzero_mean"] for k, r in runs.items()}
    zero = {k: r["helping"]["mean_zero"] for k, r in runs.items()}
    verdict = ("HELD" if all(0.5 <= v <= 0.55 for v in nonzero.values()) else
               "HELD IN DIRECTION, NOT IN SIZE" if all(v > 0.5 for v in nonzero.values())
               else "DID NOT HOLD")
    gist = {"HELD": "just over half, as in the paper",
            "DID NOT HOLD": "not more than half in every run"}.get(
        verdict, "more than half in every run, but by more than the paper's margin")
    print(f"1. Barely more than half of the parameters help at each iteration (paper: 50.7% "
          f"for its MNIST FC net): {verdict}. Of the parameters with a nonzero allocation, "
          f"{min(nonzero.values()):.1%} to {max(nonzero.values()):.1%} helped per iteration "
          "on average (" + ", ".join(f"{k} {v:.1%}" for k, v in nonzero.items()) + f"): {gist}. "
          "Of all parameters "
          f"only {min(means.values()):.1%} to {max(means.values()):.1%} helped, because "
          f"{min(zero.values()):.1%} to {max(zero.values()):.1%} had exactly zero allocation "
          "per step (no gradient: ReLU units dead on every training digit, blank pixels).")
    back = {k: r["layers"]["positive_layers"] for k, r in runs.items()}
    backp = {k: r["layers"]["positive_parameters"] for k, r in runs.items()}
    any_back = any(back.values())
    detail = "; ".join(
        f"{k}: " + ", ".join(f"{la} {runs[k]['layers']['totals'][la]:+.4f}" for la in v)
        for k, v in back.items() if v) or "no layer of any run has a positive total"
    params = "; ".join(
        f"{k}: " + ", ".join(f"{p} {runs[k]['layers']['per_parameter'][p]:+.4f}" for p in v)
        for k, v in backp.items() if v) or "none"
    print(f"2. Some layer goes backwards over training (positive total LCA): "
          f"{held(any_back)}. {detail}. Parameter tensors with a positive total: {params}.")
    raw = {k: r["sync"] for k, r in runs.items()}
    det = {k: r["sync_detrended"] for k, r in runs.items()}
    def synced(stats: dict[str, Any]) -> bool:
        return all(2 * s["pairs_p_below_0.05"] > s["n_pairs"]
                   and s["mean_coincidence"] > s["mean_control"] for s in stats.values())

    n_raw = sum(s["pairs_p_below_0.05"] for s in raw.values())
    n_det = sum(s["pairs_p_below_0.05"] for s in det.values())
    n_pairs = sum(s["n_pairs"] for s in raw.values())
    verdict = ("HELD" if synced(raw) and synced(det) else
               "HELD for the raw series only (the shared learning curve)" if synced(raw) else
               "PARTLY HELD" if n_raw or n_det else "DID NOT HOLD")
    print(f"3. Layers' learning peaks are synchronized (top {TOP:.0%} iterations coincide "
          f"more than under circular shifts): {verdict}. Pairs of layers with p < 0.05: "
          f"{n_raw}/{n_pairs} raw, {n_det}/{n_pairs} detrended (chance coincidence about "
          f"{TOP:.0%}).")
    for k in runs:
        s, d = raw[k], det[k]
        print(f"   {k}: raw mean correlation {s['mean_correlation']:+.2f}, coincidence "
              f"{s['mean_coincidence']:.1%} vs control {s['mean_control']:.1%} "
              f"({s['pairs_p_below_0.05']}/{s['n_pairs']} pairs p<0.05); detrended "
              f"correlation {d['mean_correlation']:+.2f}, coincidence "
              f"{d['mean_coincidence']:.1%} vs {d['mean_control']:.1%} "
              f"({d['pairs_p_below_0.05']}/{d['n_pairs']} pairs p<0.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="neuronscope-out/lca-digits")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 epoch on 128 training digits (4 steps)")
    args = parser.parse_args()
    epochs = 1 if args.quick else args.epochs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    print(f"LCA on digits, {epochs} epochs, batch 32; SGD {OPTIMIZERS['sgd']}, "
          f"Adam {OPTIMIZERS['adam']}", flush=True)
    runs, models, results = {}, {}, {}
    for name in MODELS:
        for opt in OPTIMIZERS:
            key = f"{name}-{opt}"
            models[key], results[key], runs[key] = run(name, opt, epochs, out, args.quick)
    _, first_res, first = run("digits-mlp", "sgd", epochs, out, args.quick,
                              method="first_order")
    same_path = bool(torch.equal(first_res.loss, results["digits-mlp-sgd"].loss))

    print("\nAccuracy and allocation error (relative to each step's measured loss change)\n")
    table([[k, r["steps"], f"{r['test_accuracy']:.4f}", f"{r['final_train_loss']:.4f}",
            f"{r['error']['median_relative_error']:.2e}",
            f"{r['error']['p90_relative_error']:.2e}",
            f"{r['error']['steps_split']:.1%}", f"{r['error']['within_threshold']:.1%}",
            f"{r['seconds']:.0f}"] for k, r in runs.items()],
          ["run", "steps", "test acc", "train loss", "median rel. error", "p90 rel. error",
           "steps split", "within 1%", "s"])
    fe, se = first["error"], runs["digits-mlp-sgd"]["error"]
    print(f"\ndigits-mlp SGD, first-order LCA: median relative error "
          f"{fe['median_relative_error']:.2e} (p90 {fe['p90_relative_error']:.2e}, within 1% "
          f"{fe['within_threshold']:.1%}) vs Simpson {se['median_relative_error']:.2e}; "
          f"ratio {fe['median_relative_error'] / se['median_relative_error']:.0f}x. "
          f"Mean helping first-order {first['helping']['mean']:.3f} vs Simpson "
          f"{runs['digits-mlp-sgd']['helping']['mean']:.3f}. Same training path as the "
          f"Simpson run: {same_path}")

    print("\nFraction of parameters helping per iteration (of all parameters; zero allocation: "
          "no gradient on the training set; of nonzero: helped / (helped + hurt))\n")
    table([[k, f"{r['helping']['mean']:.4f}", f"{r['helping']['median']:.4f}",
            f"{r['helping']['min']:.3f}-{r['helping']['max']:.3f}",
            f"{r['helping']['mean_zero']:.4f}", f"{r['helping']['of_nonzero_mean']:.4f}",
            f"{r['helping']['of_nonzero_median']:.4f}",
            ", ".join(f"{la} {v:.3f} ({r['helping']['by_layer_zero'][la]:.2f})"
                      for la, v in r["helping"]["by_layer_mean"].items())]
           for k, r in runs.items()],
          ["run", "mean", "median", "range", "zero allocation", "of nonzero: mean",
           "of nonzero: median", "mean per layer (zero share)"])

    print("\nTotal LCA per layer over training (negative: helped; * marks positive)\n")
    table([[k, ", ".join(f"{la} {v:+.4f}{'*' if v > 0 else ''}"
                         for la, v in r["layers"]["totals"].items()),
            f"{r['layers']['sum_of_layers']:+.4f}", f"{r['layers']['measured_loss_change']:+.4f}",
            ", ".join(r["layers"]["positive_parameters"]) or "-"] for k, r in runs.items()],
          ["run", "layer totals", "sum", "measured loss change", "positive parameter tensors"])

    for which, title in (("sync", "raw series"), ("sync_detrended", "detrended series")):
        w = next(iter(runs.values()))[which]
        print(f"\nSynchronization of per-layer LCA, {title}"
              + (f" (moving median over {w['moving_median_window']} steps taken off)"
                 if w["detrended"] else "")
              + f": top {TOP:.0%} iterations ({w['peaks_per_layer']} per layer) coinciding, "
              f"against {w['shifts']} circular shifts\n")
        table([[k, " / ".join(p["layers"]), f"{p['correlation']:+.3f}", f"{p['coincidence']:.3f}",
                f"{p['control_mean']:.3f}", f"{p['control_p95']:.3f}", f"{p['z']:.1f}",
                f"{p['p']:.4f}"]
               for k, r in runs.items() for p in r[which]["pairs"]],
              ["run", "layers", "correlation", "coincidence", "control mean", "control p95",
               "z", "p"])

    write_report = report_writer()
    reports: list[str] = []
    if write_report is None:
        print("\nno neuronscope.render.lca_report.write_report: reports skipped")
    else:
        for k, res in results.items():
            try:
                reports.append(str(write_report(
                    res, out / f"{k}-report", input_shape=(1, 8, 8),
                    title=f"Loss change allocation: {k}, {res.n_steps} steps")))
            except Exception as exc:  # noqa: BLE001 - a report is an extra; say why not
                print(f"report for {k} failed: {type(exc).__name__}: {exc}")
    conclusions(runs)
    wall = time.perf_counter() - begin
    summary = {"epochs": epochs, "quick": args.quick, "top": TOP, "threshold": THRESHOLD,
               "runs": runs, "first_order": first, "first_order_same_path": same_path,
               "reports": reports, "seconds": round(wall, 1)}
    (out / "lca_digits.json").write_text(json.dumps(summary, indent=1, allow_nan=True))
    print(f"\nwall time {wall:.0f} s -> {out}/lca_digits.json, "
          + ", ".join(f"{k}.png" for k in runs) + (f", {len(reports)} reports" if reports else ""))


if __name__ == "__main__":
    main()
