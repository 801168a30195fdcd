"""The paper's evaluation protocol and its aggregation, batched (docs/method.md#evaluation-protocol).

:func:`evaluate_counterfactuals` runs, for every model, **one** batched search over all
(run × λ_egy × individual) factuals (per-sample ``energy_weight``), computes validity, cost, IP and
IP* per counterfactual, and aggregates them per run exactly as the reference did:

1. keep the **valid** counterfactuals (argmax f(x') = y⁺) for IP, IP* and cost;
2. mean per (run, λ_egy, model);
3. mean over λ_egy within each run → one value per run and model.

:func:`compare` turns two models' per-run values into the table's "reduction ± sd" and the
significance star (99 % percentile interval of the per-run differences of absolute values).
"""

from __future__ import annotations

import dataclasses
import numbers
import time
import warnings
import zlib

import numpy as np

from .. import defaults
from .._validation import as_2d_float, as_labels, check_int, check_non_negative, check_probability
from ..constraints import Constraints
from ..search import check_classifier, search
from .metrics import (cost as _cost, implausibility, length_scales_tuple, mmd_indexed, predict_logits, subsample_groups,
                      subsample_reference)

__all__ = ["Comparison", "ProtocolResult", "compare", "evaluate_counterfactuals", "ip_star_key",
           "percentile_significance", "reduction"]


def ip_star_key(length_scale: float) -> str:
    """Metric name of IP* at ``length_scale``, e.g. ``"ip_star[5]"`` and ``"ip_star[0.5]"``."""
    return f"ip_star[{float(length_scale):g}]"


@dataclasses.dataclass
class ProtocolResult:
    """What :func:`evaluate_counterfactuals` returns (numpy arrays throughout).

    Attributes:
        models: model names, in the order given.
        metrics: metric names: ``"validity"``, ``"cost"``, ``"ip"`` and one ``ip_star[ℓ]`` per length scale.
        per_run: ``{model: {metric: (n_runs,)}}`` — valid-CE means per (run, λ), averaged over λ
            (validity: share of valid CEs, averaged over λ).  NaN where a run had no valid CE.
        per_run_lambda: ``{model: {metric: (n_runs, n_λ)}}`` before averaging over λ_egy.
        validity: ``{model: float}`` mean validity over runs and λ_egy (the validity table).
        missing: ``{model: int}`` individuals skipped because the model predicts no test point as their
            factual label.
        records: per-counterfactual columns (all models concatenated, one row per CE): ``model`` (name),
            ``run``, ``lambda_index``, ``energy_weight``, ``individual``, ``factual_label``, ``target``,
            ``test_index``, ``valid``, ``mature``, ``steps``, ``cost``, ``ip``, ``group`` (IP* group id),
            ``group_size``, and per length scale ``ip_star[ℓ]`` = the group's **raw** MMD² (unclamped).
        counterfactuals, factuals: ``(n_rows, D)`` (decoded) counterfactuals and their factuals, aligned
            with ``records`` (``None`` with ``keep_counterfactuals=False``).
        energy_weights, length_scales, n_runs, n_individuals, settings, timings: what was run and how long
            each phase took (seconds); ``settings["n_eval_points_outside_domain"]`` counts evaluation points
            that had to be clipped onto the constraints' domain before a search could start from them.
    """

    models: tuple
    metrics: tuple
    per_run: dict
    per_run_lambda: dict
    validity: dict
    missing: dict
    records: dict
    counterfactuals: np.ndarray | None
    factuals: np.ndarray | None
    energy_weights: tuple
    length_scales: tuple
    n_runs: int
    n_individuals: int
    settings: dict
    timings: dict

    def summary(self) -> dict:
        """``{model: {metric: mean over runs}}`` (NaN runs ignored)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {m: {k: float(np.nanmean(v)) for k, v in per.items()} for m, per in self.per_run.items()}

    def __repr__(self):
        return (f"ProtocolResult(models={list(self.models)}, n_runs={self.n_runs}, n_individuals={self.n_individuals}, "
                f"energy_weights={list(self.energy_weights)}, rows={len(self.records['run'])})")


# ----------------------------------------------------------------------------- validation helpers
def _check_models(models):
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict {name: keras.Model}")
    for name, m in models.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"models: every key must be a non-empty model name (str); got {name!r}")
        if not callable(m):
            raise TypeError(f"models[{name!r}] must be a keras.Model returning logits; got {type(m).__name__}")
    return models


def _check_energy_weights(value):
    try:
        w = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"energy_weights must be a sequence of numbers >= 0; got {value!r}") from None
    if w.size == 0:
        raise ValueError("energy_weights must not be empty")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"energy_weights must be finite and >= 0; got {w.tolist()}")
    return tuple(float(v) for v in w)


def _group_means(keys, values, weights, n_keys):
    """Weighted means per key (NaN where the weights sum to 0), ignoring non-finite values."""
    ok = weights & np.isfinite(values)
    s = np.bincount(keys[ok], weights=values[ok], minlength=n_keys)
    c = np.bincount(keys[ok], minlength=n_keys).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.where(c > 0, c, 1), np.nan)


def _nanmean(a, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


# ----------------------------------------------------------------------------- protocol
def evaluate_counterfactuals(models: dict, dataset, *, n_runs: int = defaults.N_RUNS,
                             n_individuals: int = defaults.EVAL_N_INDIVIDUALS,
                             energy_weights=defaults.EVAL_ENERGY_WEIGHTS,
                             threshold: float = defaults.EVAL_THRESHOLD_PLAUSIBILITY,
                             max_steps: int = defaults.EVAL_MAX_STEPS, cost_weight: float = defaults.EVAL_COST_WEIGHT,
                             learning_rate: float = defaults.LEARNING_RATE, constraints: Constraints | None = None,
                             length_scales=defaults.MMD_LENGTH_SCALES, mmd_max_samples: int = defaults.MMD_MAX_SAMPLES,
                             ip_max_samples: int | None = defaults.IP_MAX_SAMPLES, split: str = defaults.EVAL_SPLIT,
                             seed: int = 0, generator="eccco", decode_categorical: bool = True,
                             jit_compile: bool = True, keep_counterfactuals: bool = True) -> ProtocolResult:
    """Run the paper's test-time counterfactual protocol for several models (docs/method.md#evaluation-protocol).

    Per run r and λ_egy: each of ``n_individuals`` individuals gets a factual label drawn uniformly
    from all K labels and a target drawn uniformly from the other labels (shared by all models).  Each
    model then picks, uniformly with replacement, a ``split`` point that *it predicts* as the factual
    label (if it predicts none, the individual is recorded as missing for that model).  One batched
    :func:`cftkit.search` per model covers all runs, λ values and individuals.

    Metrics per counterfactual (when ``decode_categorical``, the search runs with ``categorical=True``,
    so the constraints' declared one-hot groups and binary columns hold valid values that keep the
    mutability constraints): validity, cost ‖x' − x‖₁, IP against the split's points of the target
    class (true labels) and IP* per (run, model, λ, target) group.  As in the reference, a group's
    MMD² is computed on **all** of its counterfactuals (valid or not, subsampled to
    ``mmd_max_samples``) versus up to ``mmd_max_samples`` reference points of the target class, and
    attached to each of its rows; negative values are clamped to 0 before aggregating; a group with
    fewer than 2 counterfactuals gets NaN (the unbiased estimator is undefined) and is ignored.

    Args:
        models: ``{name: keras.Model}`` returning logits, e.g. ``{"CT": ct, "BL": bl}``.
        dataset: a :class:`cftkit.datasets.Dataset` (uses ``x_<split>``, ``y_<split>``, ``constraints``).
        n_runs, n_individuals: runs and individuals per run and λ (100 and 250/100/25 in the paper).
        energy_weights: the λ_egy grid; each value is a separate evaluation, averaged within a run.
        threshold, max_steps, cost_weight, learning_rate, generator: the search settings (τ = 0.95 for
            plausibility, 0.5 for cost runs; T = 50; λ_cost = 0; η = 0.1; ECCCo).
        constraints: ``None`` = the dataset's domain with every feature mutable; pass
            ``dataset.with_immutable().constraints`` for the protected-feature cost runs.  Factuals
            outside the domain are clipped onto it before the search (the search needs in-domain
            starts); cost is measured from the original factual.
        length_scales: IP* length scales (both 0.5 and 5.0 by default).
        mmd_max_samples: per-side subsample size of IP* (100).
        ip_max_samples: ``None`` = exact IP; an int mimics the reference's with-replacement draws.
        split: ``"test"`` (the paper) or ``"train"`` (the grid searches).
        seed: seeds every draw (labels and targets, each model's factuals — keyed by its name, so adding
            a model changes no other model's draws —, IP* subsamples).
        jit_compile: compile the search with XLA (much faster on CPU and GPU).
        keep_counterfactuals: keep the ``(n_rows, D)`` counterfactual and factual arrays.

    Returns:
        :class:`ProtocolResult`.
    """
    t_start = time.perf_counter()
    _check_models(models)
    n_runs = check_int(n_runs, "n_runs", minimum=1)
    n_individuals = check_int(n_individuals, "n_individuals", minimum=1)
    lambdas = _check_energy_weights(energy_weights)
    threshold = check_probability(threshold, "threshold")
    max_steps = check_int(max_steps, "max_steps", minimum=0)
    cost_weight = check_non_negative(cost_weight, "cost_weight")
    learning_rate = check_non_negative(learning_rate, "learning_rate")
    ls = length_scales_tuple(length_scales)
    mmd_max_samples = check_int(mmd_max_samples, "mmd_max_samples", minimum=2)
    if ip_max_samples is not None:
        ip_max_samples = check_int(ip_max_samples, "ip_max_samples", minimum=1)
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train'; got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int >= 0; got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed}")
    for name in (f"x_{split}", f"y_{split}", "constraints"):
        if not hasattr(dataset, name):
            raise TypeError(f"dataset must be a cftkit.datasets.Dataset (missing attribute {name!r}); "
                            f"got {type(dataset).__name__}")
    x_eval = as_2d_float(getattr(dataset, f"x_{split}"), f"dataset.x_{split}")
    n_eval, d = x_eval.shape
    y_eval = as_labels(getattr(dataset, f"y_{split}"), f"dataset.y_{split}", n=n_eval)
    if y_eval.min() < 0:
        raise ValueError(f"dataset.y_{split} must hold class indices >= 0")
    k = int(getattr(dataset, "n_classes", int(y_eval.max()) + 1))
    if k < 2 or np.unique(y_eval).size < 2:
        raise ValueError(f"dataset must have at least 2 classes (found {np.unique(y_eval).size} in y_{split}); "
                         "counterfactuals need a target class other than the factual's")
    if constraints is None:
        constraints = dataset.constraints.unconstrained_mutability()
    elif not isinstance(constraints, Constraints):
        raise TypeError(f"constraints must be a cftkit.Constraints or None; got {type(constraints).__name__}")
    if constraints.n_features != d:
        raise ValueError(f"constraints describe {constraints.n_features} features but the data have {d}")
    for name, m in models.items():
        km = check_classifier(m, x_eval)
        if km != k:
            raise ValueError(f"models[{name!r}] returns {km} logits but the dataset has {k} classes")

    names = tuple(models)
    n_l = len(lambdas)
    shape = (n_runs, n_l, n_individuals)
    rng_labels, rng_mmd, rng_ip = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    # Each model's factual draws depend only on (seed, its name): adding a model changes no other's.
    rng_models = [np.random.default_rng([seed, zlib.crc32(name.encode())]) for name in names]
    # Factual labels and targets (uniform over the other labels), shared by every model.
    factual_label = rng_labels.integers(0, k, size=shape)
    target = ((factual_label + rng_labels.integers(1, k, size=shape)) % k).astype(np.int32)
    run_i, lam_i, ind_i = (a.reshape(-1) for a in np.indices(shape))
    lam_w = np.asarray(lambdas, np.float32)[lam_i]
    fl_flat, tg_flat = factual_label.reshape(-1), target.reshape(-1)
    x_search_dom = constraints.clip(x_eval)

    cols = {c: [] for c in ("model", "run", "lambda_index", "energy_weight", "individual", "factual_label", "target",
                            "test_index", "valid", "mature", "steps", "cost", "ip")}
    cfs, facts, missing = [], [], {}
    t_search = t_metrics = 0.0
    for mi, name in enumerate(names):
        model = models[name]
        pred = np.argmax(predict_logits(model, x_eval), axis=1)
        test_index = np.full(fl_flat.shape, -1, np.int64)
        for c in range(k):  # a loop over classes, vectorised over individuals
            rows = np.flatnonzero(fl_flat == c)
            pool = np.flatnonzero(pred == c)
            if rows.size and pool.size:
                test_index[rows] = pool[rng_models[mi].integers(0, pool.size, size=rows.size)]
        present = np.flatnonzero(test_index >= 0)
        missing[name] = int(fl_flat.size - present.size)
        if present.size == 0:
            continue
        ti, tg = test_index[present], tg_flat[present]
        t0 = time.perf_counter()
        res = search(model, x_search_dom[ti], tg, generator=generator, constraints=constraints, max_steps=max_steps,
                     threshold=threshold, learning_rate=learning_rate, cost_weight=cost_weight,
                     energy_weight=lam_w[present], jit_compile=jit_compile, seed=seed,
                     categorical=decode_categorical)
        t1 = time.perf_counter()
        cf = res.counterfactual
        if decode_categorical:
            cf = constraints.decode_categorical(cf, factual=res.factual)
        logits = predict_logits(model, cf)
        cols["valid"].append(np.argmax(logits, axis=1) == tg)
        cols["cost"].append(_cost(cf, x_eval[ti]))
        cols["ip"].append(implausibility(cf, tg, x_eval, y_eval, max_samples=ip_max_samples,
                                         seed=int(rng_ip.integers(2**31))))
        t_search += t1 - t0
        t_metrics += time.perf_counter() - t1
        cols["model"].append(np.full(present.size, mi, np.int64))
        for c, src in (("run", run_i), ("lambda_index", lam_i), ("energy_weight", lam_w), ("individual", ind_i),
                       ("factual_label", fl_flat)):
            cols[c].append(src[present])
        cols["target"].append(tg)
        cols["test_index"].append(ti)
        cols["mature"].append(res.mature)
        cols["steps"].append(res.steps)
        cfs.append(cf)
        facts.append(x_eval[ti])

    empty = {"model": np.int64, "valid": bool, "mature": bool, "cost": np.float64, "ip": np.float64,
             "energy_weight": np.float32}
    rec = {c: (np.concatenate(v) if v else np.zeros(0, empty.get(c, np.int64))) for c, v in cols.items()}
    cf_all = np.concatenate(cfs) if cfs else np.zeros((0, d), np.float32)
    fact_all = np.concatenate(facts) if facts else np.zeros((0, d), np.float32)
    n_rows = cf_all.shape[0]

    # IP*: one group per (model, run, λ, target); all groups' MMD² in batched TF calls.
    t0 = time.perf_counter()
    gkey = ((rec["model"] * n_runs + rec["run"]) * n_l + rec["lambda_index"]) * k + rec["target"]
    uniq, gid = np.unique(gkey, return_inverse=True)
    group_target = (uniq % k).astype(np.int64)
    mmd_raw = np.full((uniq.size, len(ls)), np.nan)
    if uniq.size:
        a_idx = subsample_groups(gid, uniq.size, mmd_max_samples, rng_mmd)
        b_idx = subsample_reference(group_target, y_eval, mmd_max_samples, rng_mmd)
        mmd_raw = mmd_indexed(cf_all, a_idx, x_eval, b_idx, ls, pools=group_target)
    t_mmd = time.perf_counter() - t0
    rec["group"] = gid.astype(np.int64)
    rec["group_size"] = np.bincount(gid, minlength=uniq.size)[gid] if n_rows else np.zeros(0, np.int64)
    metrics = ("validity", "cost", "ip") + tuple(ip_star_key(l) for l in ls)
    for j, l in enumerate(ls):
        rec[ip_star_key(l)] = mmd_raw[gid, j] if n_rows else np.zeros(0)
    rec["model"] = np.asarray(names, dtype=object)[rec["model"]].astype(str) if n_rows else np.zeros(0, str)

    # Aggregation (docs/method.md#aggregation-and-significance): valid rows → mean per (run, λ) → mean over λ.
    per_run, per_run_lambda, validity = {}, {}, {}
    for name in names:
        mask = rec["model"] == name
        key = rec["run"][mask] * n_l + rec["lambda_index"][mask]
        valid = rec["valid"][mask]
        per_l = {"validity": _group_means(key, valid.astype(np.float64), np.ones_like(valid), n_runs * n_l),
                 "cost": _group_means(key, rec["cost"][mask], valid, n_runs * n_l),
                 "ip": _group_means(key, rec["ip"][mask], valid, n_runs * n_l)}
        for l in ls:
            clamped = np.maximum(rec[ip_star_key(l)][mask], 0.0)  # NaN stays NaN
            per_l[ip_star_key(l)] = _group_means(key, clamped, valid, n_runs * n_l)
        per_run_lambda[name] = {m: v.reshape(n_runs, n_l) for m, v in per_l.items()}
        per_run[name] = {m: _nanmean(v, axis=1) for m, v in per_run_lambda[name].items()}
        validity[name] = float(_nanmean(per_run[name]["validity"], axis=0))

    settings = {"threshold": threshold, "max_steps": max_steps, "cost_weight": cost_weight,
                "learning_rate": learning_rate, "mmd_max_samples": mmd_max_samples, "ip_max_samples": ip_max_samples,
                "split": split, "seed": seed, "generator": str(generator), "decode_categorical": decode_categorical,
                "n_classes": k, "constraints": constraints.get_config(),
                "n_eval_points_outside_domain": int(np.sum(np.any(x_search_dom != x_eval, axis=1)))}
    timings = {"search": t_search, "metrics": t_metrics, "ip_star": t_mmd, "total": time.perf_counter() - t_start}
    return ProtocolResult(models=names, metrics=metrics, per_run=per_run, per_run_lambda=per_run_lambda,
                          validity=validity, missing=missing, records=rec,
                          counterfactuals=cf_all if keep_counterfactuals else None,
                          factuals=fact_all if keep_counterfactuals else None, energy_weights=lambdas,
                          length_scales=ls, n_runs=n_runs, n_individuals=n_individuals, settings=settings,
                          timings=timings)


# ------------------------------------------ comparison (docs/method.md#aggregation-and-significance)
def _check_alpha(alpha):
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in the open interval (0, 1); got {alpha!r}")
    return float(alpha)


def _paired(treated, baseline):
    t = np.asarray(treated, dtype=np.float64).reshape(-1) if np.ndim(treated) else np.asarray([treated], np.float64)
    b = np.asarray(baseline, dtype=np.float64).reshape(-1) if np.ndim(baseline) else np.asarray([baseline], np.float64)
    if t.shape != b.shape:
        raise ValueError(f"treated and baseline must have one value per run each; got {t.shape} and {b.shape}")
    if t.size == 0:
        raise ValueError("treated and baseline must not be empty")
    return t, b


def reduction(treated, baseline):
    """Percentage reduction of ``treated`` relative to ``baseline`` (docs/method.md#aggregation-and-significance).

    ratio_r = treated_r / baseline_r; reduction = (1 − mean_r ratio_r)·100 and sd = 100·sd_r(ratio_r)
    (sample sd, ddof = 1; NaN for a single run).  Runs whose ratio is not finite (NaN values, a zero
    baseline) are dropped.

    Returns:
        ``(reduction_pct, reduction_sd)``.

    Example:
        >>> import cftkit.evaluation as ev
        >>> [round(v, 6) for v in ev.reduction([1.0, 3.0], [2.0, 4.0])]
        [37.5, 17.67767]
    """
    t, b = _paired(treated, baseline)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = t / b
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size == 0:
        return float("nan"), float("nan")
    sd = float(np.std(ratio, ddof=1)) * 100.0 if ratio.size > 1 else float("nan")
    return float((1.0 - np.mean(ratio)) * 100.0), sd


def percentile_significance(deltas, alpha: float = defaults.SIGNIFICANCE_LEVEL):
    """Percentile-interval test: is 0 outside the (α/2, 1 − α/2) quantiles of ``deltas``?

    Non-finite deltas are dropped.  Quantiles use linear interpolation (Julia's and numpy's default).

    Returns:
        ``(significant, lower, upper)``.

    Example:
        >>> import numpy as np, cftkit.evaluation as ev
        >>> ev.percentile_significance(np.linspace(1, 2, 101), 0.01)[0]
        True
    """
    alpha = _check_alpha(alpha)
    dl = np.asarray(deltas, dtype=np.float64).reshape(-1)
    dl = dl[np.isfinite(dl)]
    if dl.size == 0:
        return False, float("nan"), float("nan")
    lo, hi = np.quantile(dl, [alpha / 2.0, 1.0 - alpha / 2.0])
    return bool(lo > 0 or hi < 0), float(lo), float(hi)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One cell of the main table: ``reduction_pct ± reduction_sd`` and the significance star."""

    metric: str
    reduction_pct: float
    reduction_sd: float
    significant: bool
    ci_low: float
    ci_high: float
    treated_mean: float
    baseline_mean: float
    n_runs: int

    def __str__(self):
        return f"{self.reduction_pct:.2f}±{self.reduction_sd:.2f}{'*' if self.significant else ''}"


def compare(result: ProtocolResult, treated: str = "CT", baseline: str = "BL",
            alpha: float = defaults.SIGNIFICANCE_LEVEL, metrics=None) -> dict:
    """Compare two models of a :class:`ProtocolResult` per metric, as in the paper's main table.

    For each metric: reduction_pct = (1 − mean_r(T_r/B_r))·100, reduction_sd = 100·sd_r(T_r/B_r),
    significant = the (α/2, 1 − α/2) percentile interval of δ_r = |T_r| − |B_r| excludes 0
    (``ci_low``/``ci_high``), plus the means of T and B over runs.  Runs where either value is NaN
    are dropped (``n_runs`` says how many were used).

    Args:
        metrics: names to compare; default every metric except validity.

    Returns:
        ``{metric: Comparison}``.
    """
    if not isinstance(result, ProtocolResult):
        raise TypeError(f"result must be a ProtocolResult; got {type(result).__name__}")
    for role, name in (("treated", treated), ("baseline", baseline)):
        if name not in result.per_run:
            raise ValueError(f"{role}={name!r} is not a model of this result; models: {list(result.models)}")
    alpha = _check_alpha(alpha)
    if metrics is None:
        metrics = tuple(m for m in result.metrics if m != "validity")
    elif isinstance(metrics, str):
        metrics = (metrics,)
    out = {}
    for m in metrics:
        if m not in result.per_run[treated]:
            raise ValueError(f"unknown metric {m!r}; available: {list(result.metrics)}")
        t, b = result.per_run[treated][m], result.per_run[baseline][m]
        ok = np.isfinite(t) & np.isfinite(b)
        t, b = t[ok], b[ok]
        if t.size == 0:
            out[m] = Comparison(m, float("nan"), float("nan"), False, float("nan"), float("nan"), float("nan"),
                                float("nan"), 0)
            continue
        pct, sd = reduction(t, b)
        sig, lo, hi = percentile_significance(np.abs(t) - np.abs(b), alpha)
        out[m] = Comparison(m, pct, sd, sig, lo, hi, float(np.mean(t)), float(np.mean(b)), int(t.size))
    return out
