"""The paper's experiments: train BL and CT with a preset, evaluate them, compare with Table I.

Used by ``cftkit reproduce`` (see :mod:`cftkit.cli`) and the "reproduce" notebook.

Example:
    >>> import cftkit
    >>> res = cftkit.experiments.reproduce("circles", quick=True, runs=3, epochs=2, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings

import numpy as np

from . import datasets as _datasets, defaults, presets as _presets
from ._tf import keras
from ._validation import check_int
from .training import CounterfactualModel, build_classifier

#: Metrics of the main table and their names in the protocol result.
TABLE_METRICS = {"ip": "ip", "ip_star_0.5": "ip_star[0.5]", "ip_star_5.0": "ip_star[5]", "cost": "cost"}
PAPER_METRIC = {"ip": "ip", "ip_star_0.5": "ip_star", "ip_star_5.0": "ip_star", "cost": "cost"}

QUICK = dict(epochs=20, runs=10, individuals=50, ig_rounds=10)


def train_model(dataset, preset, objective: str, *, seed: int = 0, constraints=None, epochs: int | None = None,
                jit_compile: bool = True, steps_per_execution: int | None = None, verbose=0, callbacks=None):
    """Train one model with a preset; returns ``(model, seconds)``.

    ``constraints`` default to the dataset's domain with every feature mutable (the plausibility
    runs); pass ``dataset.with_immutable().constraints`` for the protected-feature (cost) runs.
    The traced training graph is released afterwards (it holds megabytes per model and a trained model
    only needs its forward pass); a later ``model.fit`` traces it again.
    """
    epochs = preset.epochs if epochs is None else check_int(epochs, "epochs", minimum=1)
    keras.utils.set_random_seed(seed)
    clf = build_classifier(dataset.n_features, dataset.n_classes, preset.hidden, seed=seed)
    if constraints is None:
        constraints = dataset.constraints.unconstrained_mutability()
    model = CounterfactualModel(clf, constraints=constraints, seed=seed, **preset.model_kwargs(objective))
    n_batches = math.ceil(len(dataset.x_train) / preset.batch_size)
    model.compile(optimizer=keras.optimizers.Adam(preset.learning_rate, epsilon=preset.adam_epsilon),
                  metrics=["accuracy"], jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution or n_batches)
    t0 = time.perf_counter()
    model.fit(dataset.x_train, dataset.y_train, batch_size=preset.batch_size, epochs=epochs,
              shuffle=preset.shuffle, verbose=verbose, callbacks=callbacks)
    seconds = time.perf_counter() - t0
    model.train_function = None  # see the docstring: a later fit traces it again
    return model, seconds


def _comparison_dict(cmp, paper):
    return {"bl_mean": cmp.baseline_mean, "ct_mean": cmp.treated_mean, "reduction_pct": cmp.reduction_pct,
            "reduction_sd": cmp.reduction_sd, "significant": bool(cmp.significant), "ci": [cmp.ci_low, cmp.ci_high],
            "paper_v3": paper}


def _paper(preset, metric):
    row = _presets.PAPER_V3.get(preset.paper_key)
    if row is None:
        return None
    red, sd, sig = row[PAPER_METRIC[metric]]
    out = {"reduction_pct": red, "reduction_sd": sd, "significant": sig}
    levels = _presets.PAPER_V3_LEVELS.get(preset.paper_key)
    if levels is not None and metric != "ip_star_0.5":  # the paper's IP* levels are at the harness' ℓ = 5
        out["ct_mean"], out["bl_mean"] = levels[PAPER_METRIC[metric]]
    return out


def run_seed(name: str, *, seed: int = 0, data_seed: int = 0, runs: int = defaults.N_RUNS,
             individuals: int | None = None, epochs: int | None = None, jit_compile: bool = True,
             robustness: bool = True, ig_rounds: int = defaults.IG_ROUNDS, keep_models: bool = False,
             progress=None, preset=None) -> dict:
    """Train BL, CT and CT-with-protection for one training seed and evaluate them (docs/method.md#evaluation-protocol).

    ``preset`` (a :class:`cftkit.presets.Preset`) replaces the dataset's paper preset, e.g. with changed settings.
    """
    from .evaluation import protocol, robustness as _rob, attribution, metrics as _metrics

    def tick(msg):
        if progress is not None:
            progress.set_postfix_str(msg)
            progress.update(1)

    if preset is None:
        preset = _presets.get(name)
    elif not isinstance(preset, _presets.Preset):
        raise TypeError(f"preset must be a cftkit.presets.Preset; got {type(preset).__name__}")
    elif preset.dataset != _presets.get(name).dataset:
        raise ValueError(f"preset is the {preset.dataset!r} preset, but the dataset is {name!r}")
    ds = _datasets.load(name, seed=data_seed)
    individuals = preset.eval_individuals if individuals is None else individuals
    out = {"seed": seed, "timings": {}}
    bl, out["timings"]["train_bl_s"] = train_model(ds, preset, "vanilla", seed=seed, epochs=epochs,
                                                   jit_compile=jit_compile)
    tick("BL trained")
    ct, out["timings"]["train_ct_s"] = train_model(ds, preset, "full", seed=seed, epochs=epochs,
                                                   jit_compile=jit_compile)
    tick("CT trained")
    protected = ds.with_immutable()
    ct_p, out["timings"]["train_ct_protected_s"] = train_model(ds, preset, "full", seed=seed, epochs=epochs,
                                                               constraints=protected.constraints,
                                                               jit_compile=jit_compile)
    tick("CT (protected) trained")
    t0 = time.perf_counter()
    # Test points can lie outside the domain inferred from train+val: widen it to hold them.
    plaus_c = ds.constraints.unconstrained_mutability().expanded_to(ds.x_test)
    plaus = protocol.evaluate_counterfactuals({"CT": ct, "BL": bl}, ds, n_runs=runs, n_individuals=individuals,
                                              threshold=defaults.EVAL_THRESHOLD_PLAUSIBILITY, constraints=plaus_c,
                                              seed=seed, keep_counterfactuals=False, jit_compile=jit_compile)
    cost_c = protected.constraints.expanded_to(ds.x_test)
    costr = protocol.evaluate_counterfactuals({"CT": ct_p, "BL": bl}, ds, n_runs=runs, n_individuals=individuals,
                                              threshold=defaults.EVAL_THRESHOLD_COST, constraints=cost_c,
                                              seed=seed + 10_000, keep_counterfactuals=False,
                                              jit_compile=jit_compile)
    out["timings"]["evaluate_s"] = time.perf_counter() - t0
    tick("evaluated")
    cmp_p = protocol.compare(plaus, "CT", "BL")
    cmp_c = protocol.compare(costr, "CT", "BL")
    for key, metric in TABLE_METRICS.items():
        cmp = (cmp_c if key == "cost" else cmp_p)[metric]
        out[key] = _comparison_dict(cmp, _paper(preset, key))
    out["accuracy"] = {"bl": _metrics.accuracy(bl, ds.x_test, ds.y_test),
                       "ct": _metrics.accuracy(ct, ds.x_test, ds.y_test),
                       "ct_protected": _metrics.accuracy(ct_p, ds.x_test, ds.y_test)}
    out["validity"] = {"bl": plaus.validity["BL"], "ct": plaus.validity["CT"],
                       "bl_constrained": costr.validity["BL"], "ct_constrained": costr.validity["CT"]}
    # Mean test-time search steps (plausibility runs): how far each model's counterfactuals had to walk.
    out["search_steps"] = {m.lower(): float(np.mean(plaus.records["steps"][plaus.records["model"] == m]))
                           for m in ("BL", "CT")}
    # The last epoch's training metrics (loss terms, maturity, search steps): the CT diagnostics.
    out["final_epoch"] = {m: {k: float(v[-1]) for k, v in model.history.history.items()}
                          for m, model in (("bl", bl), ("ct", ct), ("ct_protected", ct_p))}
    if robustness:
        t0 = time.perf_counter()
        eps = np.asarray(defaults.ROBUST_EPSILONS)
        out["robust_accuracy"] = {"epsilons": eps.tolist()}
        for attack in ("fgsm", "pgd"):
            out["robust_accuracy"][attack] = {
                m: _curve(_rob.robust_accuracy(model, ds.x_test, ds.y_test, eps, attack=attack, seed=seed))
                for m, model in (("bl", bl), ("ct", ct))}
        # "Acc*" of the paper's older tables: accuracy under attack at exactly ε = 0.03.
        out["acc_star"] = {attack: {m: _curve(_rob.robust_accuracy(model, ds.x_test, ds.y_test,
                                                                    [defaults.FGSM_EPSILON], attack=attack,
                                                                    seed=seed))[0]
                                    for m, model in (("bl", bl), ("ct", ct))} for attack in ("fgsm", "pgd")}
        ig = {}
        for m, model in (("bl", bl), ("ct", ct_p)):
            r = attribution.protected_sensitivity(model, ds.x_test, ds.y_test, ds.protected, rounds=ig_rounds,
                                                  seed=seed)
            ig[m] = {"median": r.median, "low": r.lower, "high": r.upper}
        out["integrated_gradients"] = ig
        out["timings"]["robustness_s"] = time.perf_counter() - t0
        tick("robustness + IG")
    if keep_models:
        out["models"] = {"bl": bl, "ct": ct, "ct_protected": ct_p, "dataset": ds}
    return out


def _curve(result) -> list:
    """Accuracies of a robust-accuracy result (dict with an ``accuracy`` entry or an array)."""
    if isinstance(result, dict):
        result = result.get("accuracy", result.get("accuracies"))
    return np.asarray(result, float).tolist()


def aggregate(per_seed: list) -> dict:
    """Mean, median and [min, max] over training seeds of every table cell (NaN where no seed has a value,
    e.g. a model without any valid counterfactual)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: NaN is the answer, not a warning
        return _aggregate(per_seed)


def _aggregate(per_seed: list) -> dict:
    agg = {}
    for key in TABLE_METRICS:
        vals = np.array([s[key]["reduction_pct"] for s in per_seed], float)
        sds = np.array([s[key]["reduction_sd"] for s in per_seed], float)
        agg[key] = {"reduction_pct": float(np.nanmean(vals)), "median": float(np.nanmedian(vals)),
                    "min": float(np.nanmin(vals)), "max": float(np.nanmax(vals)),
                    "reduction_sd": float(np.nanmean(sds)),
                    "significant": all(s[key]["significant"] for s in per_seed),
                    "significant_seeds": int(sum(s[key]["significant"] for s in per_seed)),
                    # significant *reductions* (CT better); a significant increase counts in the line above only
                    "significant_reductions": int(sum(s[key]["significant"] and s[key]["reduction_pct"] > 0
                                                      for s in per_seed)),
                    "significant_increases": int(sum(s[key]["significant"] and s[key]["reduction_pct"] < 0
                                                     for s in per_seed)),
                    "per_seed_pct": vals.tolist(),
                    "bl_mean": float(np.nanmean([s[key]["bl_mean"] for s in per_seed])),
                    "ct_mean": float(np.nanmean([s[key]["ct_mean"] for s in per_seed])),
                    "paper_v3": per_seed[0][key]["paper_v3"]}
    for group in ("accuracy", "validity"):
        agg[group] = {k: float(np.mean([s[group][k] for s in per_seed])) for k in per_seed[0][group]}
    return agg


def reproduce(name: str, *, seeds=(0,), runs: int | None = None, individuals: int | None = None,
              epochs: int | None = None, quick: bool = False, data_seed: int = 0, out: str | None = None,
              progress: bool = True, jit_compile: bool = True, robustness: bool = True, plots: bool = True,
              overrides: dict | None = None) -> dict:
    """Train and evaluate BL vs CT for one dataset over training ``seeds``; optionally write ``out/``.

    ``quick`` shrinks epochs, runs and individuals (:data:`QUICK`) unless given explicitly.
    ``overrides`` change settings of the paper preset (:meth:`cftkit.presets.Preset.replace`), e.g.
    ``{"schedule": "epoch"}`` for the reference code's schedule or ``{"lambda_reg": 0.25}`` (the V1/V2 LS
    value); they are recorded in ``protocol["overrides"]``, and the "paper V3" column stays the paper's.
    """
    preset = _presets.get(name)
    name = preset.dataset
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise TypeError(f"overrides must be a dict of preset settings; got {type(overrides).__name__}")
    preset = preset.replace(**overrides)
    if quick:
        epochs = QUICK["epochs"] if epochs is None else epochs
        runs = QUICK["runs"] if runs is None else runs
        individuals = QUICK["individuals"] if individuals is None else individuals
    runs = check_int(preset.eval_runs if runs is None else runs, "runs", minimum=1)
    individuals = check_int(preset.eval_individuals if individuals is None else individuals, "individuals",
                            minimum=1)
    epochs = check_int(preset.epochs if epochs is None else epochs, "epochs", minimum=1)
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a list of training seeds, e.g. [0, 1, 2]; got {seeds!r}")
    seeds = [check_int(s, "seeds", minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one training seed")
    data_seed = check_int(data_seed, "data_seed", minimum=0, maximum=None)
    ig_rounds = QUICK["ig_rounds"] if quick else defaults.IG_ROUNDS
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seeds) * (5 if robustness else 4), desc=f"reproduce {name}", leave=True)
    per_seed = []
    keep = plots and out is not None
    for s in seeds:
        per_seed.append(run_seed(name, seed=s, data_seed=data_seed, runs=runs, individuals=individuals,
                                 epochs=epochs, jit_compile=jit_compile, robustness=robustness,
                                 ig_rounds=ig_rounds, keep_models=keep and s == seeds[0], progress=bar,
                                 preset=preset))
    if bar is not None:
        bar.close()
    models = per_seed[0].pop("models", None)
    result = {
        "dataset": name,
        "protocol": {**dataclasses.asdict(preset), "epochs": epochs, "runs": runs,
                     "individuals_per_lambda": individuals, "energy_weights": list(defaults.EVAL_ENERGY_WEIGHTS),
                     "threshold_plausibility": defaults.EVAL_THRESHOLD_PLAUSIBILITY,
                     "threshold_cost": defaults.EVAL_THRESHOLD_COST, "test_max_steps": defaults.EVAL_MAX_STEPS,
                     "test_cost_weight": defaults.EVAL_COST_WEIGHT, "search_learning_rate": defaults.LEARNING_RATE,
                     "length_scales": list(defaults.MMD_LENGTH_SCALES), "seeds": seeds, "data_seed": data_seed,
                     "quick": quick, "jit_compile": jit_compile, "protected": list(_datasets.load(name).protected),
                     "overrides": dict(overrides)},
        "seeds": per_seed,
        **aggregate(per_seed),
    }
    result["wall_time_s"] = time.perf_counter() - t0
    if out is not None:
        write_outputs(result, out, models=models)
    return result


def markdown_table(result: dict, *, wall_time: bool = True) -> str:
    """The main-table row(s) of one dataset, ours next to the paper's V3 numbers."""
    n = len(result["seeds"])
    lines = [f"### {result['dataset']} ({n} training seed{'s' if n > 1 else ''}, {result['protocol']['runs']} runs)",
             "", "| metric | BL | CT | reduction % (mean [min, max] over seeds) ± sd | seeds with a significant reduction (↑ increase) | paper V3 |",
             "|---|---|---|---|---|---|"]
    changed = result["protocol"].get("overrides")
    if changed:  # the paper's column stays the V3 result of the unchanged preset
        lines[1:1] = ["", "Preset changed: " + ", ".join(f"{k} = {v!r}" for k, v in changed.items()) +
                      " (the paper's column is for its own settings)."]
    for key in TABLE_METRICS:
        c = result[key]
        p = c["paper_v3"]
        paper = "—" if p is None else f"{p['reduction_pct']:.2f}±{p['reduction_sd']:.2f}{'*' if p['significant'] else ''}"
        if p is not None and "bl_mean" in p:
            paper += f" (BL {p['bl_mean']:.4g}, CT {p['ct_mean']:.4g})"
        up = c["significant_increases"]
        sig = f"{c['significant_reductions']}/{n}" + (f", {up}↑" if up else "")
        lines.append(f"| {key} | {c['bl_mean']:.4g} | {c['ct_mean']:.4g} | {c['reduction_pct']:.2f} "
                     f"[{c['min']:.2f}, {c['max']:.2f}] ± {c['reduction_sd']:.2f} | {sig} | {paper} |")
    acc, val = result["accuracy"], result["validity"]
    key = _presets.get(result["dataset"]).paper_key
    pv = _presets.PAPER_VALIDITY.get(key)
    pa = _presets.PAPER_ACCURACY.get(key)
    lines += ["", "| | BL | CT | CT (protected) | paper BL | paper CT |", "|---|---|---|---|---|---|",
              f"| test accuracy | {acc['bl']:.3f} | {acc['ct']:.3f} | {acc['ct_protected']:.3f} | "
              f"{pa[1] if pa else '—'} | {pa[0] if pa else '—'} |",
              f"| validity (τ = 0.95, unconstrained) | {val['bl']:.3f} | {val['ct']:.3f} | | "
              f"{pv[1] if pv else '—'} | {pv[0] if pv else '—'} |",
              f"| validity (τ = 0.5, protected) | {val['bl_constrained']:.3f} | | {val['ct_constrained']:.3f} | "
              f"{pv[3] if pv else '—'} | {pv[2] if pv else '—'} |",
              ]
    if n > 1:
        lines += ["", _per_seed_table(result)]
    if wall_time:
        lines += ["", f"Wall time: {result['wall_time_s']:.1f} s."]
    return "\n".join(lines)


def _per_seed_table(result: dict) -> str:
    """One row per training seed: each reduction (``*`` = significant), BL / CT IP levels, validity and
    mean test-time search steps (plausibility runs)."""
    head = ("| seed | " + " | ".join(f"{k} −%" for k in TABLE_METRICS) +
            " | IP BL / CT | validity BL / CT | test-time steps BL / CT |")
    lines = ["Per seed (reduction %, * = significant at 99 %):", "", head,
             "|---|" + "---|" * (len(TABLE_METRICS) + 3)]
    for s in result["seeds"]:
        cells = [f"{s[k]['reduction_pct']:.1f}{'*' if s[k]['significant'] else ''}" for k in TABLE_METRICS]
        steps = s.get("search_steps")
        steps = f"{steps['bl']:.1f} / {steps['ct']:.1f}" if steps else "—"
        lines.append(f"| {s['seed']} | " + " | ".join(cells) + f" | {s['ip']['bl_mean']:.3g} / {s['ip']['ct_mean']:.3g}"
                     f" | {s['validity']['bl']:.2f} / {s['validity']['ct']:.2f} | {steps} |")
    med = [f"{result[k]['median']:.1f}" for k in TABLE_METRICS]
    lines.append("| median | " + " | ".join(med) + " | | | |")
    return "\n".join(lines)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def write_outputs(result: dict, out: str, *, models=None) -> None:
    """``results.json``, ``results.md`` and (with models) the BL-vs-CT figure into ``out``."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(_jsonable(result), f, indent=2)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(markdown_table(result) + "\n")
    first = result["seeds"][0]
    if "robust_accuracy" in first:
        figure_robust_accuracy(first["robust_accuracy"], os.path.join(out, f"{result['dataset']}_robust_accuracy.png"),
                               title=result["dataset"])
    if models is not None and models["dataset"].n_features == 2:
        try:
            figure_bl_vs_ct(models, os.path.join(out, f"{result['dataset']}_bl_vs_ct.png"))
        except ImportError:  # pragma: no cover - the plots module is optional at this level
            pass


def figure_robust_accuracy(curves: dict, path: str, *, title: str = "") -> None:
    """FGSM and PGD robust-accuracy curves of BL and CT (the paper's Figure 4)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from . import plots

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, attack in zip(axes, ("fgsm", "pgd")):
        plots.robust_accuracy_curves({m.upper(): (curves["epsilons"], curves[attack][m]) for m in ("bl", "ct")},
                                     ax=ax, title=f"{title} — {attack.upper()}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_bl_vs_ct(models: dict, path: str, *, n: int = 20, seed: int = 0) -> None:
    """Decision boundaries of BL and CT with counterfactuals (the paper's Figure 1)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from . import plots
    from .search import search

    ds = models["dataset"]
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, (name, model) in zip(axes, (("BL", models["bl"]), ("CT", models["ct"]))):
        pred = model.predict(ds.x_test, verbose=0).argmax(1)
        idx = rng.choice(np.flatnonzero(pred == 0), size=n, replace=True)
        res = search(model, ds.x_test[idx], np.ones(n, int), threshold=defaults.EVAL_THRESHOLD_PLAUSIBILITY,
                     cost_weight=0.0, energy_weight=1.0, constraints=ds.constraints.expanded_to(ds.x_test),
                     return_path=True)
        plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax)
        plots.counterfactual_paths(res, ax=ax)
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- stored results (package data)
#: The shipped full-protocol results: ``cftkit/data/results/<dataset>/results.json``, each written by
#: ``cftkit reproduce`` (``--seeds 10`` for the synthetic data, ``--seeds 1`` for the real data).
STORED_RESULTS = ("data", "results")

_CELL_NUMBERS = ("reduction_pct", "median", "min", "max", "reduction_sd", "bl_mean", "ct_mean")
_CELL_COUNTS = ("significant_seeds", "significant_reductions", "significant_increases")
_SEED_NUMBERS = ("reduction_pct", "reduction_sd", "bl_mean", "ct_mean")
_GROUPS = {"accuracy": ("bl", "ct", "ct_protected"), "validity": ("bl", "ct", "bl_constrained", "ct_constrained")}
_PROTOCOL = {"epochs": int, "runs": int, "individuals_per_lambda": int, "seeds": list, "quick": bool}


def _results_root(root=None):
    if root is not None:
        return os.fspath(root)
    from importlib import resources

    path = resources.files("cftkit")
    for part in STORED_RESULTS:  # one joinpath per part (Python 3.10 takes one argument)
        path = path.joinpath(part)
    return os.fspath(path)


def stored_datasets(root=None) -> tuple:
    """Datasets with stored results (``<root>/<dataset>/results.json``), in the paper's order.

    ``root`` defaults to the results shipped with cftkit (package data, :data:`STORED_RESULTS`); pass the
    ``--out`` folder of ``cftkit reproduce --dataset all-synthetic`` to list your own.
    """
    root = _results_root(root)
    order = _presets.SYNTHETIC + _presets.REAL
    found = [n for n in order if os.path.isfile(os.path.join(root, n, "results.json"))]
    return tuple(found)


def _where(path):
    return "".join(f"[{p!r}]" for p in path) or "the file"


def _need(obj, key, path, source, kind=dict):
    if not isinstance(obj, dict) or key not in obj:
        raise ValueError(f"{source}: {_where(path)} has no {key!r} entry (not a results.json of cftkit reproduce, "
                         f"or a damaged one)")
    value = obj[key]
    if kind is not None and not isinstance(value, kind):
        raise ValueError(f"{source}: {_where(path + [key])} must be a {kind.__name__}; got {value!r}")
    return value


def _number(obj, key, path, source):
    """A number entry; ``null`` (how ``results.json`` stores NaN) becomes NaN."""
    value = _need(obj, key, path, source, kind=None)
    if value is None:
        obj[key] = float("nan")
        return obj[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{source}: {_where(path + [key])} must be a number (or null); got {value!r}")
    obj[key] = float(value)
    return obj[key]


def _count(obj, key, path, source):
    value = _need(obj, key, path, source, kind=None)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{source}: {_where(path + [key])} must be a count (an int >= 0); got {value!r}")
    return value


def _check_paper(cell, path, source):
    paper = _need(cell, "paper_v3", path, source, kind=None)
    if paper is None:
        return
    if not isinstance(paper, dict):
        raise ValueError(f"{source}: {_where(path + ['paper_v3'])} must be null or a dict; got {paper!r}")
    for k in ("reduction_pct", "reduction_sd"):
        _number(paper, k, path + ["paper_v3"], source)
    _need(paper, "significant", path + ["paper_v3"], source, kind=bool)
    for k in ("bl_mean", "ct_mean"):
        if k in paper:
            _number(paper, k, path + ["paper_v3"], source)


def check_results(result, *, name: str | None = None, source: str = "results") -> dict:
    """Check that ``result`` has the layout of a ``results.json`` written by :func:`reproduce`.

    Checks the entries the lessons and :mod:`cftkit.widgets` read: ``dataset``; ``protocol`` (epochs,
    runs, individuals, seeds, quick); one cell per :data:`TABLE_METRICS` key (reduction, spread, counts
    of significant seeds, BL/CT means, the paper's value); ``accuracy``, ``validity``; and per training
    seed its cells and validity.  ``null`` numbers (NaN in ``results.json``) become NaN in place.

    Args:
        name: the dataset the file must describe (e.g. its folder's name).
        source: how errors name the checked object (its path).

    Returns:
        ``result`` (numbers as floats).

    Raises:
        ValueError: naming the file and the missing or malformed entry.

    Example:
        >>> check_results({"dataset": "moons"})
        Traceback (most recent call last):
        ...
        ValueError: results: the file has no 'protocol' entry (not a results.json of cftkit reproduce, or a damaged one)
    """
    if not isinstance(result, dict):
        raise ValueError(f"{source}: a results file holds a JSON object (dict); got {type(result).__name__}")
    dataset = _need(result, "dataset", [], source, kind=str)
    if dataset not in _presets.PRESETS:
        raise ValueError(f"{source}: ['dataset'] must name one of the paper's datasets {sorted(_presets.PRESETS)}; "
                         f"got {dataset!r}")
    if name is not None and _presets.get(name).dataset != dataset:
        raise ValueError(f"{source}: holds the results of {dataset!r}, not of {name!r}")
    protocol = _need(result, "protocol", [], source)
    for key, kind in _PROTOCOL.items():
        _need(protocol, key, ["protocol"], source, kind=kind)
    seeds = _need(result, "seeds", [], source, kind=list)
    if not seeds or len(seeds) != len(protocol["seeds"]):
        raise ValueError(f"{source}: ['seeds'] must hold one entry per training seed of ['protocol']['seeds'] "
                         f"({len(protocol['seeds'])}); got {len(seeds)}")
    for key in TABLE_METRICS:
        cell = _need(result, key, [], source)
        for k in _CELL_NUMBERS:
            _number(cell, k, [key], source)
        _need(cell, "significant", [key], source, kind=bool)
        for k in _CELL_COUNTS:
            _count(cell, k, [key], source)
        per_seed = _need(cell, "per_seed_pct", [key], source, kind=list)
        if len(per_seed) != len(seeds):
            raise ValueError(f"{source}: {_where([key, 'per_seed_pct'])} must hold one value per seed ({len(seeds)}); "
                             f"got {len(per_seed)}")
        cell["per_seed_pct"] = [float("nan") if v is None else _as_float(v, [key, "per_seed_pct"], source)
                                for v in per_seed]
        _check_paper(cell, [key], source)
    for group, keys in _GROUPS.items():
        g = _need(result, group, [], source)
        for k in keys:
            _number(g, k, [group], source)
    for i, s in enumerate(seeds):
        path = ["seeds", i]
        if not isinstance(s, dict):
            raise ValueError(f"{source}: {_where(path)} must be a dict; got {s!r}")
        _need(s, "seed", path, source, kind=int)
        for key in TABLE_METRICS:
            cell = _need(s, key, path, source)
            for k in _SEED_NUMBERS:
                _number(cell, k, path + [key], source)
            _need(cell, "significant", path + [key], source, kind=bool)
        validity = _need(s, "validity", path, source)
        for k in _GROUPS["validity"]:
            _number(validity, k, path + ["validity"], source)
    return result


def _as_float(value, path, source):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{source}: {_where(path)} must hold numbers (or null); got {value!r}")
    return float(value)


def read_results(path, *, name: str | None = None) -> dict:
    """Read and check (:func:`check_results`) one ``results.json`` written by ``cftkit reproduce``
    (``name``: the dataset it must describe)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return check_results(result, name=name, source=path)


def stored_results(name: str, *, root=None) -> dict:
    """The stored full-protocol results of one dataset, checked (:func:`check_results`).

    The results shipped with cftkit (package data, ``cftkit/data/results/<dataset>/results.json``) come
    from ``cftkit reproduce --dataset all-synthetic --seeds 10`` and ``--dataset all-real --seeds 1``; their
    ``protocol`` entry records every setting.  ``root`` reads ``<root>/<dataset>/results.json`` instead.

    Args:
        name: a dataset (aliases as in :func:`cftkit.presets.get`).

    Raises:
        FileNotFoundError: no stored results for this dataset.
        ValueError: an unknown dataset, or a file that is not a ``results.json`` of ``cftkit reproduce``.

    Example:
        >>> res = stored_results("circles")                      # doctest: +SKIP
        >>> res["ip"]["reduction_pct"], res["ip"]["paper_v3"]["reduction_pct"]  # doctest: +SKIP
        (58.6..., 58.88)
    """
    dataset = _presets.get(name).dataset
    base = _results_root(root)
    path = os.path.join(base, dataset, "results.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no stored results for {dataset!r} (no {path}); stored: "
                                f"{list(stored_datasets(root))}. Make them with: cftkit reproduce --dataset {dataset} "
                                f"--out {os.path.join(base, dataset)}")
    return read_results(path, name=dataset)


#: The paper's columns of Table I (IP* there is the harness' ℓ = 5), with their names in the lessons.
PAPER_COLUMNS = {"ip": "IP", "ip_star_5.0": "IP* (ℓ = 5)", "cost": "cost (protected)"}


def is_full_protocol(result: dict) -> bool:
    """Whether a ``results.json`` ran the paper's protocol: not ``quick``, no preset overrides, the
    preset's epochs, runs and individuals."""
    p = result["protocol"]
    preset = _presets.get(result["dataset"])
    return (not p.get("quick", False) and not p.get("overrides") and p["epochs"] >= preset.epochs
            and p["runs"] >= preset.eval_runs and p["individuals_per_lambda"] >= preset.eval_individuals)


def protocol_summary(result: dict) -> str:
    """One line saying what a ``results.json`` ran, e.g. ``"full protocol: 10 training seeds, 100 epochs,
    100 runs × 250 individuals × 5 λ_egy"`` (``"quick run (not the paper's protocol): ..."`` otherwise)."""
    p = result["protocol"]
    n = len(p["seeds"])
    kind = "full protocol" if is_full_protocol(result) else "quick run (not the paper's protocol)"
    n_l = len(p.get("energy_weights", defaults.EVAL_ENERGY_WEIGHTS))
    return (f"{kind}: {n} training seed{'s' if n != 1 else ''}, {p['epochs']} epochs, {p['runs']} runs × "
            f"{p['individuals_per_lambda']} individuals × {n_l} λ_egy")


def agreement(ours: float, paper: float, tolerance: float = 0.5) -> str:
    """How a reduction compares with the paper's: ``"within ±50 %"`` (the paper's sign and a size within
    ``tolerance`` of it), ``"same sign"``, ``"opposite sign"`` or ``"n/a"`` (a value is missing).

    Example:
        >>> agreement(53.2, 58.88), agreement(2.2, 58.88), agreement(-5.0, 10.0)
        ('within ±50 %', 'same sign', 'opposite sign')
    """
    ours, paper = float(ours), float(paper)
    if not (math.isfinite(ours) and math.isfinite(paper)):
        return "n/a"
    if abs(ours - paper) <= tolerance * abs(paper):
        return f"within ±{tolerance * 100:g} %"
    if ours * paper > 0 or ours == paper == 0:
        return "same sign"
    return "opposite sign"


def paper_comparison(result: dict, seed: int | None = None, *, tolerance: float = 0.5) -> dict:
    """Our numbers next to the paper's for one ``results.json`` (the mean over seeds, or one ``seed``).

    Returns a plain dict: ``dataset``, ``seed``, ``label`` (e.g. ``"mean over 10 seeds"``), ``protocol``
    (:func:`protocol_summary`), ``full`` (:func:`is_full_protocol`); ``metrics`` — per
    :data:`PAPER_COLUMNS` key: ``label``, ``ours`` (reduction %), ``low``/``high`` (min/max over seeds;
    the value itself for one seed), ``per_seed`` (reductions), ``significant`` (seeds with a significant
    reduction), ``increases`` (with a significant increase), ``n_seeds``, ``bl``/``ct`` (our levels),
    ``paper``, ``paper_sd``, ``paper_significant``, ``paper_bl``/``paper_ct`` (NaN where the paper has none)
    and ``agreement`` (:func:`agreement`); ``validity`` and ``accuracy`` — ``{"ours": {...}, "paper":
    {...}}`` with keys ``bl``, ``ct`` (unconstrained, τ = 0.95) and ``bl_constrained``, ``ct_constrained``
    (protected feature, τ = 0.5) for validity; ``bl``, ``ct`` for accuracy (paper: NaN where unknown).
    """
    seeds = result["seeds"]
    if seed is None:
        chosen = seeds
        label = f"mean over {len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    else:
        chosen = [s for s in seeds if s["seed"] == seed]
        if not chosen:
            raise ValueError(f"seed must be one of the stored training seeds {[s['seed'] for s in seeds]} "
                             f"(or None for the mean); got {seed!r}")
        label = f"seed {seed}"
    nan = float("nan")
    key = _presets.get(result["dataset"]).paper_key
    metrics = {}
    for m, name in PAPER_COLUMNS.items():
        cells = [s[m] for s in chosen]
        per_seed = [float(c["reduction_pct"]) for c in cells]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ours = float(np.nanmean(per_seed))
            bl, ct = (float(np.nanmean([float(c[k]) for c in cells])) for k in ("bl_mean", "ct_mean"))
        finite = [v for v in per_seed if math.isfinite(v)]
        paper = result[m].get("paper_v3") or {}
        p_red = float(paper.get("reduction_pct", nan))
        metrics[m] = {"label": name, "ours": ours, "low": min(finite, default=nan), "high": max(finite, default=nan),
                      "per_seed": per_seed, "n_seeds": len(cells),
                      "significant": sum(c["significant"] and c["reduction_pct"] > 0 for c in cells),
                      "increases": sum(c["significant"] and c["reduction_pct"] < 0 for c in cells),
                      "bl": bl, "ct": ct, "paper": p_red, "paper_sd": float(paper.get("reduction_sd", nan)),
                      "paper_significant": bool(paper.get("significant", False)),
                      "paper_bl": float(paper.get("bl_mean", nan)), "paper_ct": float(paper.get("ct_mean", nan)),
                      "agreement": agreement(ours, p_red, tolerance)}
    v_keys = _GROUPS["validity"]
    validity = {k: float(np.mean([float(s["validity"][k]) for s in chosen])) for k in v_keys}
    pv = _presets.PAPER_VALIDITY.get(key)
    paper_validity = ({k: nan for k in v_keys} if pv is None else
                      {"ct": pv[0], "bl": pv[1], "ct_constrained": pv[2], "bl_constrained": pv[3]})
    acc = result["accuracy"] if seed is None else chosen[0].get("accuracy", result["accuracy"])
    pa = _presets.PAPER_ACCURACY.get(key)
    return {"dataset": result["dataset"], "seed": seed, "label": label, "protocol": protocol_summary(result),
            "full": is_full_protocol(result), "metrics": metrics,
            "validity": {"ours": validity, "paper": {k: float(v) for k, v in paper_validity.items()}},
            "accuracy": {"ours": {k: float(acc[k]) for k in ("bl", "ct")},
                         "paper": {"ct": nan, "bl": nan} if pa is None else {"ct": float(pa[0]), "bl": float(pa[1])}}}
