# ---
# jupyter:
#   jupytext:
#     formats: ipynb,src//py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Evaluating counterfactual explanations
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/06_evaluation.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/06_evaluation.ipynb) — the student version: exercises with
# checks, no solutions.
#
# How do we know that counterfactual training made explanations *better*? The paper scores
# counterfactuals by validity, cost and two implausibility measures, repeats the evaluation over
# many runs, and reports a percentage reduction with a significance star. This notebook builds
# that table cell by cell, with pictures, and ends with the integrated-gradients check of
# feature protection.
#
# **Learning goals**
#
# * compute **validity**, **cost**, **IP** and **IP\*** for a batch of counterfactuals;
# * see why IP\* with a kernel length scale of 0.5 (the paper's text) and 5.0 (the authors' code)
#   can disagree;
# * run the **protocol** with a few runs, read `compare`'s "reduction ± sd\*", understand the
#   **percentile significance test**, and recognise a **degenerate** cell (a mean of ratios of
#   near-zero numbers), run by run with `cftkit.widgets.EvaluationExplorer`;
# * measure feature protection with **integrated gradients** (`protected_sensitivity`).
#
# *Runtime: under a minute on two CPU cores.*

# %%
# Colab only: install cftkit from its repository (it is not on PyPI), keeping Colab's own TensorFlow.
# Anywhere else (Binder, your own JupyterLab) this cell does nothing.
import importlib.util
import subprocess
import sys


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


if "google.colab" in sys.modules and not _importable("cftkit"):
    package = "cftkit" if _importable("tensorflow") else "cftkit[cpu]"  # never tensorflow-cpu beside tensorflow
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                           f"{package} @ git+https://github.com/cftkit/cftkit"])
    importlib.invalidate_caches()

# %%
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # silence TensorFlow's C++ log (before it is imported)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable CPU kernels
NOTEBOOK_SEED = 0

# %%
# %matplotlib inline
import gc

import numpy as np
import matplotlib.pyplot as plt

from IPython.display import display

import cftkit
from cftkit import evaluation as ev, experiments, plots, widgets
from cftkit.exercises import lesson06 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(NOTEBOOK_SEED, threads=2)  # before any TensorFlow op: reproducible numbers

# %% [markdown]
# ## 0 · Three models to evaluate
#
# On a 600-point version of *circles* we train a baseline (BL), a CT model, and a CT model for which
# feature `x1` is **immutable** (for section 5). As in notebook 05, the preset is the paper's with
# fewer counterfactuals per epoch and a larger Adam step, so 20 epochs suffice.

# %%
ds = cftkit.datasets.load_synthetic("circles", n_pool=720, n_val=120)  # 600 train, 900 test
preset = cftkit.presets.get("circles").replace(n_ce=300, learning_rate=0.01)
protected = ds.with_immutable([0])                                      # x1 may not change
train = dict(epochs=20, jit_compile=False, steps_per_execution=20)
bl, _ = experiments.train_model(ds, preset, "vanilla", **train)
ct, _ = experiments.train_model(ds, preset, "full", **train)
ct_p, _ = experiments.train_model(ds, preset, "full", constraints=protected.constraints, **train)
print({name: round(ev.accuracy(m, ds.x_test, ds.y_test), 3) for name, m in (("BL", bl), ("CT", ct), ("CT, x1 immutable", ct_p))})

# %% [markdown]
# ## 1 · Validity and cost
#
# We ask both models the same question: eight test points of the inner blob (class 0), target
# class 1 (the ring). The search is the paper's test-time ECCCo (τ = 0.95, T = 50, no distance
# penalty). **Validity** = the model now predicts the target; **cost** = ‖x′ − x‖₁, how far the
# counterfactual moved. The picture joins each factual (○) to its counterfactual: ★ valid, ✕ not valid
# (notebook 01 draws the searches' paths step by step).

# %%
x0 = ds.x_test[ds.y_test == 0][:8]
targets = np.ones(len(x0), dtype=int)
domain = ds.constraints.expanded_to(ds.x_test)
models = {"BL": bl, "CT": ct}
found = {name: cftkit.search(m, x0, targets, constraints=domain, threshold=0.95, max_steps=50,
                             cost_weight=0.0, energy_weight=1.0)
         for name, m in models.items()}
fig = plots.compare_boundaries(models, ds.x_test, ds.y_test, max_points=300, resolution=80)
for ax, (name, r) in zip(fig.axes, found.items()):
    valid = ev.validity(models[name], r.counterfactual, targets)
    print(f"{name}: validity {valid.mean():.3f}, mean cost {ev.cost(r.counterfactual, x0).mean():.3f}")
    for start, end in zip(x0, r.counterfactual):  # a line from each factual (○) to its counterfactual
        ax.plot(*zip(start, end), color="k", lw=1)
    ax.scatter(*x0.T, s=60, facecolors="white", edgecolors="k", zorder=4)
    ax.scatter(*r.counterfactual[valid].T, s=180, marker="*", color="gold", edgecolors="k", zorder=5)  # valid
    ax.scatter(*r.counterfactual[~valid].T, s=90, marker="X", color="0.75", edgecolors="k", zorder=5)  # not valid

# %% [markdown]
# Only two of BL's eight searches reach the ring and are valid (★); the others (✕) never leave the
# blob. All of CT's counterfactuals are valid and end on the ring. BL's mean cost is *lower* — mostly
# because its failed searches barely moved. Neither number says whether a counterfactual looks like
# the target class; that is what the implausibility measures are for.

# %% [markdown]
# ## 2 · IP: distance to the target class
#
# IP is the mean ℓ1 distance from a counterfactual to the test points of its target class (true
# labels). The picture draws those distances (grey lines) for the first counterfactual of each model.

# %%
ring = ds.x_test[ds.y_test == 1]
fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True, layout="constrained")
for ax, (name, r) in zip(axes, found.items()):
    _ = plots.implausibility_illustration(r.counterfactual[0], ring, ax=ax)
    ax.set_title(f"{name}: {ax.get_title()}")
for name, r in found.items():
    print(name, "mean IP over the 8 counterfactuals:",
          round(ev.implausibility(r.counterfactual, targets, ds.x_test, ds.y_test).mean(), 3))

# %% [markdown]
# Surprise: BL's counterfactual, which never left the blob, has the *lower* IP. On a ring, the point
# with the smallest mean distance to all ring points is the centre — the hole. IP is a mean
# distance, so it cannot see that nothing of the target class lives there. Two consequences: the
# protocol scores IP on **valid** counterfactuals only, and we need a measure that compares whole
# distributions — IP\*.

# %% [markdown]
# ## 3 · IP\*: MMD, and why the length scale matters
#
# IP\* compares a whole *cloud* of counterfactuals with the target class by the (unbiased, squared)
# maximum mean discrepancy with a Gaussian kernel k(a, b) = exp(−‖a − b‖² / 2ℓ²). The paper's text
# says ℓ = 0.5; the authors' code used ℓ = 5.0, which is what reproduces the published numbers.
# cftkit reports both.
#
# The length scale decides what "similar" means. When ℓ is much larger than the data (circles spans
# about ±1.3), k ≈ 1 − ‖a − b‖²/2ℓ², and for that kernel MMD² = ‖mean(a) − mean(b)‖²/ℓ² **exactly**:
# ℓ = 5 compares little more than the two clouds' means (and gives tiny numbers). ℓ = 0.5 is of the
# size of the data's structure and sees *where* the points are. Three candidate clouds for target
# class 1 (the ring) make the point:
#
# * **A** — the other half of the ring's test points (perfectly plausible);
# * **B** — points in the hole of the ring (implausible, but with the ring's mean!);
# * **C** — the ring shifted right by 0.5.

# %%
ref, half = ring[::2][:100], ring[1::2][:100]
clouds = {"A: the ring": half,
          "B: the hole": ds.x_test[ds.y_test == 0][:100],
          "C: shifted ring": half + np.array([0.5, 0.0], np.float32)}
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), layout="constrained")
r = np.linspace(0, 3, 200)
for ls in (0.5, 5.0):
    axes[0].plot(r, np.exp(-r**2 / (2 * ls**2)), label=f"ℓ = {ls}")
axes[0].set(xlabel="distance ‖a − b‖", ylabel="kernel k(a, b)", title="Gaussian kernel")
axes[0].legend()
for ax, (name, cloud) in zip(axes[1:], clouds.items()):
    m = {ls: ev.mmd(cloud, ref, length_scale=ls) for ls in (0.5, 5.0)}
    print(f"{name:17} MMD²(ℓ=0.5) = {m[0.5]:.4f}   MMD²(ℓ=5) = {m[5.0]:.5f}")
    ax.scatter(*ref.T, s=8, color="0.6", label="target class")
    ax.scatter(*cloud.T, s=8, color="#b2182b", label="candidate")
    ax.set(title=f"{name}\nℓ=0.5: {m[0.5]:.3f} · ℓ=5: {m[5.0]:.4f}", aspect="equal")
_ = axes[1].legend(fontsize="small", loc="lower left")

# %% [markdown]
# With ℓ = 0.5 the hole (B) is by far the worst cloud. With ℓ = 5 it looks almost as plausible as
# the ring itself, and *better* than the shifted ring (C), because only the means are compared.
# The (unbiased) estimate can also be slightly negative for a perfect match; the protocol clamps
# negative values to 0, as the reference did.
#
# `ev.ip_star` applies this per target class to real counterfactuals (each side subsampled to at
# most 100 points):

# %%
for name, r in found.items():
    vals = {ls: ev.ip_star(r.counterfactual, targets, ds.x_test, ds.y_test, length_scale=ls)[1]
            for ls in (0.5, 5.0)}
    print(f"{name}: IP*(ℓ=0.5) = {vals[0.5]:.4f}   IP*(ℓ=5) = {vals[5.0]:.5f}")

# %% [markdown]
# ## 4 · The run protocol and the significance test
#
# One batch of eight counterfactuals proves little. The paper's protocol (docs/method.md#runs-individuals-and-factual-draws) repeats,
# per **run**: draw individuals (a factual label and a different target, shared by all models);
# each model picks a test point *it* predicts as that label; search with ECCCo for each
# λ_egy ∈ {0.1, 0.5, 1, 5, 10}. Metrics are averaged over the **valid** counterfactuals, then over
# λ_egy — one number per run and model. The paper used 100 runs × 250 individuals; we use 10 × 20.

# %%
res = ev.evaluate_counterfactuals({"CT": ct, "BL": bl}, ds, n_runs=10, n_individuals=20, jit_compile=False)
res

# %% [markdown]
# Per run, `compare` forms the ratio CT/BL; the table reports the **reduction** (1 − mean ratio)·100
# and the sd of the ratios (·100). The **star** is a percentile test: with δ_r = |CT_r| − |BL_r|,
# is 0 outside the 99 % interval of the run distribution of δ? The last column is the *ratio of the
# means*, (1 − mean CT / mean BL)·100, for comparison. We print the stable metrics first.

# %%
table = ev.compare(res, "CT", "BL", metrics=("ip_star[0.5]", "ip", "cost", "ip_star[5]"))
print(f"{'metric':13} {'BL':>8} {'CT':>8}   reduction % (± sd, * = significant)   ratio of means")
for metric, c in table.items():
    ratio_of_means = (1 - c.treated_mean / c.baseline_mean) * 100
    print(f"{metric:13} {c.baseline_mean:8.4f} {c.treated_mean:8.4f}   {str(c):36} {ratio_of_means:7.1f} %")
print("validity:", {name: round(v, 3) for name, v in res.validity.items()})

# %% [markdown]
# The first three rows are stable: IP\* at ℓ = 0.5 drops by almost 90 % with a run-to-run sd of a
# few percent, IP and the cost drop too, all significantly, and the mean of ratios and the ratio of
# means roughly agree.
#
# The last row is **degenerate**. At ℓ = 5, IP\* compares little more than the clouds' means
# (section 3), and both models' values are near zero (BL about 0.0006, CT about 0.0016; the paper
# reports 0.00 for both on circles). A ratio of two numbers of that size is mostly noise: a run
# with a tiny BL value gives a ratio of 10 or more, and the mean of ratios explodes into a
# "reduction" of several hundred percent below zero with an sd larger still. It does not mean
# "CT is four times worse": the ratio of means is less extreme, and the percentile test, which looks
# at the differences instead of the ratios, finds nothing (no star). Read such a cell as "no signal
# at this length scale", not as a result.
#
# ### Explore it: `EvaluationExplorer`
#
# The explorer shows what each cell is made of, run by run: the per-run values of BL and CT, the
# differences δ_r with their 99 % interval (green when it excludes 0), and the ratios CT_r / BL_r with
# their mean (the table's reduction) and the ratio of the means. Pick a **metric**, a **length scale**
# ℓ (choosing one shows IP\* at that ℓ) and a **test-time λ_egy** (one value of the grid, or the
# protocol's mean over all five). Things to try:
#
# * IP\* at ℓ = 0.5, then at ℓ = 5: the same counterfactuals, one stable cell and one degenerate one.
# * IP at λ_egy = 0.1 and at λ_egy = 10: how much does the energy weight *at test time* matter?
# * validity: every CT run is at 1, BL far below — the test needs no ratio for that.

# %%
explorer = widgets.EvaluationExplorer(res, metric="ip_star", length_scale=0.5)
explorer

# %% [markdown]
# As plain pictures (they show without a kernel too), the two IP\* cells drawn by separate explorers (the one above
# stays as you leave it): ℓ = 0.5, then ℓ = 5.

# %%
for ls in (0.5, 5.0):
    snapshot = widgets.EvaluationExplorer(res, metric="ip_star", length_scale=ls)
    display(snapshot.draw())
    c = snapshot.current
    print(f"ℓ = {ls}: reduction {c['reduction_pct']:.1f} ± {c['reduction_sd']:.1f} %, ratio of means "
          f"{c['ratio_of_means_pct']:.1f} %, ratios from {c['ratios'].min():.2f} to {c['ratios'].max():.2f}, "
          f"{'significant' if c['significant'] else 'not significant'}, degenerate: {c['degenerate']}")

# %% [markdown]
# ### Exercise 1 — how many runs does a star need?
#
# With α = 0.01 the interval runs from the 0.5 % to the 99.5 % quantile of the δ_r. Write the test
# yourself: `percentile_test(delta, alpha=0.01)` returns `(significant, lo, hi)`, where `lo` and `hi`
# are the α/2 and 1 − α/2 quantiles of the deltas `delta` and `significant` (a bool) says whether 0
# lies outside [lo, hi]. Then apply it to the IP deltas δ_r = |CT_r| − |BL_r| (from `res.per_run`)
# of only the first n runs for n = 2, 3, 5 and 10, and print the interval each time. What does the
# test amount to when there are only a few runs?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.star_by_hand.hint()` gives a hint,
# `ex.star_by_hand.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "star_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def percentile_test(delta, alpha=0.01):
    """(significant, lo, hi): the α/2 and 1 − α/2 quantiles of the deltas; significant if 0 is outside."""
    ### BEGIN SOLUTION
    lo, hi = np.quantile(delta, [alpha / 2, 1 - alpha / 2])
    return bool(lo > 0 or hi < 0), float(lo), float(hi)
    ### END SOLUTION


### BEGIN SOLUTION
delta = np.abs(res.per_run["CT"]["ip"]) - np.abs(res.per_run["BL"]["ip"])
for n in (2, 3, 5, 10):
    sig, lo, hi = percentile_test(delta[:n])
    print(f"n = {n:2}: interval [{lo:.3f}, {hi:.3f}] → {'*' if sig else 'no star'}")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "star_by_hand_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.star_by_hand.assert_correct(percentile_test, result=res)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.star_by_hand.assert_hidden(percentile_test, result=res)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · Feature protection, measured with integrated gradients
#
# The paper's "mutability" runs make a feature immutable during training: its value in the target
# sample x⁺ is overwritten with the counterfactual's, so the div term cannot reward the model for
# relying on it. Does the model then depend less on it? Integrated gradients (IG) attribute the
# target logit to the input features along the path from a random U(−1, 1) baseline;
# `protected_sensitivity` averages IG over samples in each of several rounds, standardises the
# average, and reads it at the protected feature (docs/method.md#integrated-gradients). Lower = less sensitive.

# %%
gc.collect()  # first free the figures and explorers above: Python collects such objects only now and then
ig = {name: ev.protected_sensitivity(m, ds.x_test, ds.y_test, [0], rounds=20, n_samples=500, steps=20, seed=0)
      for name, m in (("BL", bl), ("CT, x1 immutable", ct_p))}
for name, r in ig.items():
    print(f"{name:17} sensitivity to x1: median {r}   mean |IG| per feature {np.abs(r.attributions).mean(0).round(3)}")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
for i, (name, r) in enumerate(ig.items()):
    ax1.bar(np.arange(2) + (i - 0.5) * 0.4, np.abs(r.attributions).mean(0), 0.4, label=name)
ax1.set(xticks=[0, 1], xticklabels=ds.feature_names, ylabel="|average IG| (mean over rounds)",
        title="attribution per feature")
ax1.legend(fontsize="small")
_ = ax2.boxplot([r.values for r in ig.values()], tick_labels=list(ig))
_ = ax2.set(ylabel="standardised IG at x1", yscale="log", title="sensitivity to the protected feature, per round")

# %% [markdown]
# The CT model trained with `x1` immutable leans on `x1` far less than the baseline, which uses both
# features equally (the circles are symmetric). For 2-D data the paper standardises by
# |g| / (max g − min g) with the *signed* attributions, so values above 1 occur whenever both
# features push the same way — compare the medians between models, not with 1.

# %% [markdown]
# ### Exercise 2 — IP\* by hand
#
# `ev.ip_star` groups counterfactuals by target, subsamples both sides and computes the MMD². Write
# the MMD² yourself with NumPy: `mmd2(a, b, length_scale)` returns the unbiased MMD² of the samples
# `a` (m, D) and `b` (n, D) with the Gaussian kernel k(u, v) = exp(−‖u − v‖² / 2ℓ²),
#
# MMD² = Σ_{i≠j} k(aᵢ, aⱼ) / (m(m − 1)) + Σ_{i≠j} k(bᵢ, bⱼ) / (n(n − 1)) − 2·Σ_{i,j} k(aᵢ, bⱼ) / (mn).
#
# Then apply it to CT's eight counterfactuals from section 1 (`found["CT"].counterfactual`) against the
# ring (`ds.x_test[ds.y_test == 1]`) at ℓ = 0.5 and ℓ = 5, and print it next to `ev.mmd` and
# `ev.ip_star`. Why do the numbers of `ev.ip_star` differ from yours? (Hint: look at its `max_samples`
# argument.)
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.mmd_by_hand.hint()` gives a hint,
# `ex.mmd_by_hand.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "mmd_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mmd2(a, b, length_scale):
    """The unbiased MMD² of samples a (m, D) and b (n, D), kernel k(u, v) = exp(−‖u − v‖² / (2ℓ²))."""
    ### BEGIN SOLUTION
    def k(u, v):
        return np.exp(-((u[:, None, :] - v[None, :, :]) ** 2).sum(-1) / (2 * length_scale**2))

    m, n = len(a), len(b)
    kaa, kbb = k(a, a), k(b, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * k(a, b).mean())
    ### END SOLUTION


### BEGIN SOLUTION
cf = found["CT"].counterfactual
ring_points = ds.x_test[ds.y_test == 1]
for ls in (0.5, 5.0):
    packaged = ev.ip_star(cf, np.ones(len(cf), int), ds.x_test, ds.y_test, length_scale=ls)[1]
    print(f"ℓ = {ls}: by hand {mmd2(cf, ring_points, ls):.5f}, ev.mmd {ev.mmd(cf, ring_points, ls):.5f}, "
          f"ev.ip_star {packaged:.5f}")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "mmd_by_hand_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.mmd_by_hand.assert_correct(mmd2, a=found["CT"].counterfactual, b=ring)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.mmd_by_hand.assert_hidden(mmd2, a=found["CT"].counterfactual, b=ring)
### END HIDDEN TESTS

# %% [markdown]
# ## What to try next
#
# * Rerun the protocol with more runs (`n_runs=30`) and watch the sd of the reductions shrink —
#   and which stars survive.
# * Evaluate the **cost** table the paper's way: `constraints=protected.constraints.expanded_to(ds.x_test)`,
#   `threshold=0.5`, models `{"CT": ct_p, "BL": bl}`.
# * `ev.robust_accuracy(model, x, y, attack="pgd")` gives the robustness curves of the paper's Figure 4.
# * `res.records` holds one row per counterfactual (model, run, λ_egy, target, valid, cost, IP, IP\*):
#   plot IP against λ_egy.
# * Continue with **07 · Real data**.
