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
# # 07 · Real data: California housing and MNIST
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/07_real_data.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/07_real_data.ipynb) — the student version: exercises with
# checks, no solutions.
#
# Synthetic circles are good for pictures; the paper's claims are about real data. This notebook
# applies the same recipe to a tabular dataset with an **immutable** feature and to handwritten
# digits, where counterfactuals are images and the top and bottom pixel rows are protected.
#
# **Learning goals**
#
# * train BL and CT on **California housing** with `HouseAge` immutable and measure cost, IP and IP\*
#   the paper's way (protected-feature runs);
# * see *which* features counterfactuals change, and check protection with integrated gradients;
# * read one individual's counterfactual as a table of changes in real units, marked against each
#   feature's mutability (`cftkit.widgets.CounterfactualTable`);
# * generate **MNIST** counterfactuals with BL and CT and compare them as images;
# * check that the protected pixel rows never change.
#
# *Runtime: under a minute on two CPU cores. The data files are read from the local data folder.*

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
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import display

import cftkit
from cftkit import evaluation as ev, experiments, plots, widgets
from cftkit.exercises import lesson07 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(NOTEBOOK_SEED, threads=2)  # before any TensorFlow op: reproducible numbers

# %% [markdown]
# ## 1 · California housing with an immutable feature
#
# Eight standardised features of Californian districts; the label is whether the median house value
# is at or above the median (balanced classes). The paper protects `HouseAge`: you cannot make a
# house younger. We train on a stratified subsample of 2000 rows (the test set stays complete).

# %%
ch = cftkit.datasets.load_california_housing(n_train=2000)
ch_protected = ch.with_immutable()            # the paper's protected feature(s): HouseAge
print(ch)
print("features:", ch.feature_names)
print("immutable:", [ch.feature_names[j] for j in ch.protected])

# %% [markdown]
# BL is trained as usual; CT is trained **with** the protection (its counterfactuals during training
# may not move `HouseAge`, and x⁺ copies the counterfactual's `HouseAge`). The preset is the paper's
# (batch 1000, 5000 counterfactuals per epoch) scaled down to 2000 rows: batches of 100, 500
# counterfactuals per epoch, and a larger Adam step for 20 epochs.

# %%
ch_preset = cftkit.presets.get("california_housing").replace(batch_size=100, n_ce=500, learning_rate=0.003)
train = dict(epochs=20, jit_compile=False, steps_per_execution=20)
ch_bl, _ = experiments.train_model(ch, ch_preset, "vanilla", **train)
ch_ct, _ = experiments.train_model(ch, ch_preset, "full", constraints=ch_protected.constraints, **train)
print({name: round(ev.accuracy(m, ch.x_test, ch.y_test), 3) for name, m in (("BL", ch_bl), ("CT", ch_ct))})

# %% [markdown]
# CT pays a few points of accuracy here, as in the paper (0.85 → 0.79 on CH). Now the paper's
# *protected-feature* evaluation: counterfactuals may not touch `HouseAge` (τ = 0.5), 5 runs ×
# 20 individuals × 5 values of λ_egy.

# %%
ch_res = ev.evaluate_counterfactuals({"CT": ch_ct, "BL": ch_bl}, ch, n_runs=5, n_individuals=20, threshold=0.5,
                                     constraints=ch_protected.constraints.expanded_to(ch.x_test),
                                     jit_compile=False)
for metric, c in ev.compare(ch_res, "CT", "BL").items():
    print(f"{metric:13} BL {c.baseline_mean:8.4f}   CT {c.treated_mean:8.4f}   reduction {c}")
print("validity:", {name: round(v, 3) for name, v in ch_res.validity.items()})

# %% [markdown]
# CT's counterfactuals are cheaper *and* closer to the target class. Which features do they change?
# The mean absolute change per feature (all protocol counterfactuals of each model):

# %%
change = np.abs(ch_res.counterfactuals - ch_res.factuals)
fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
for i, name in enumerate(("BL", "CT")):
    mean_change = change[ch_res.records["model"] == name].mean(axis=0)
    ax.bar(np.arange(ch.n_features) + (i - 0.5) * 0.4, mean_change, 0.4, label=name)
    print(name, {f: round(float(v), 2) for f, v in zip(ch.feature_names, mean_change)})
ax.set(xticks=range(ch.n_features), xticklabels=ch.feature_names, ylabel="mean |x′ − x| (standardised)",
       title="how much counterfactuals change each feature (HouseAge is immutable)")
_ = ax.legend()

# %% [markdown]
# `HouseAge` never changes (the search respects the constraint for both models). BL's
# counterfactuals lean on `AveOccup` and spread their change over many features; CT's rely mainly
# on `MedInc`, the feature most related to house value. Integrated gradients confirm that CT, trained
# with the protection, is less sensitive to `HouseAge` itself:

# %%
for name, m in (("BL", ch_bl), ("CT", ch_ct)):
    r = ev.protected_sensitivity(m, ch.x_test, ch.y_test, ch.protected, rounds=20, n_samples=500, steps=20)
    print(f"{name}: standardised IG at HouseAge, median [2.5 %, 97.5 %] = {r}")

# %% [markdown]
# ### One individual at a time: `CounterfactualTable`
#
# Means over hundreds of counterfactuals hide what a single explanation asks of a person. The
# `CounterfactualTable` searches the counterfactual of one test district (ECCCo, τ = 0.5, as in the
# protocol's cost runs) and lists every feature it changes — factual, counterfactual, change,
# mutability, and whether the change respects it — in **real units** where the loader recorded its
# z-scoring (`MedInc` in $10 000, `HouseAge` in years, `AveOccup` in people per household,
# `Latitude`/`Longitude` in degrees), or in the model's standardised units. Its controls:
# **model** (BL or CT), **individual** (a test row), **target**, **search** (respect the
# mutability, or ignore it and only check: `HouseAge` then moves and is marked ✗) and **units**.
# Things to try:
#
# * the same individual under BL and under CT: which features does each ask to change, and how far?
# * "ignore it": how much of the counterfactual's job does `HouseAge` do when it may move?
# * a few individuals in a row: is `MedInc` always among CT's largest changes?

# %%
table = widgets.CounterfactualTable({"BL": ch_bl, "CT": ch_ct}, ch, constraints=ch_protected.constraints)
table

# %% [markdown]
# As plain pictures (they show without a kernel too): individual 0 explained by CT, drawn by separate tables (the one above stays
# as you leave it) — first with the mutability respected, then ignored. They only need CT, so they hold only CT.

# %%
for enforce in (True, False):
    snapshot = widgets.CounterfactualTable({"CT": ch_ct}, ch, constraints=ch_protected.constraints, enforce=enforce)
    display(snapshot.draw())
    print("respecting the mutability:" if enforce else "ignoring it:")
    print(snapshot.text())

# %% [markdown]
# With the constraint, `HouseAge` stays at its value and every change respects its mutability (✓).
# Ignoring it, the search makes the district younger by a few years — a change nobody can make —
# and the table marks it ✗. Note also what the paper leaves mutable: the counterfactual moves the
# district by a few degrees of latitude and longitude, valid for the model but hardly *actionable*;
# `ch.with_immutable([...])` can protect more features.

# %% [markdown]
# ### Exercise 1 — the most-changed feature
#
# From `ch_res`, find for each model the feature with the largest mean absolute change, restricted to
# **valid** counterfactuals. `ch_res.records["model"]` names the model of each row of
# `ch_res.counterfactuals` and `ch_res.factuals`, and `ch_res.records["valid"]` says whether it is valid.
# Store, per model name (`"BL"`, `"CT"`), the mean |x′ − x| per feature over its valid counterfactuals
# in `mean_change` (a dict of arrays of `ch.n_features` values) and the name of the feature with the
# largest mean change (from `ch.feature_names`) in `top_feature` (a dict of strings). Does restricting
# to valid ones change the answer?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.most_changed.hint()` gives a hint,
# `ex.most_changed.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "most_changed", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
change = np.abs(ch_res.counterfactuals - ch_res.factuals)
mean_change, top_feature = {}, {}
for name in ("BL", "CT"):
    rows = (ch_res.records["model"] == name) & ch_res.records["valid"]
    mean_change[name] = change[rows].mean(axis=0)
    top_feature[name] = ch.feature_names[int(np.argmax(mean_change[name]))]
    print(f"{name}: {rows.sum()} valid counterfactuals, most changed feature: {top_feature[name]}")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "most_changed_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.most_changed.assert_correct(mean_change, top_feature, result=ch_res, dataset=ch)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.most_changed.assert_hidden(mean_change, top_feature, result=ch_res, dataset=ch)
### END HIDDEN TESTS

# %% [markdown]
# ## 2 · MNIST: counterfactuals are images
#
# The paper uses MNIST with pixels scaled to [−1, 1] and an MLP with one hidden layer. We take a
# class-balanced pool of 1000 training images (`load_mnist(n_train=…)` is `load("mnist")` with a
# smaller balanced pool) and 500 test images. The protected features are the top and bottom five
# pixel rows — tinted red below. The paper asks for counterfactuals that leave them alone.

# %%
mn = cftkit.datasets.load_mnist(n_train=1000, n_validation=0, n_test=500)
mn_protected = mn.with_immutable()            # rows 0–4 and 23–27 of every image
print(mn, "| protected pixels:", len(mn.protected))
ax = plots.protected_mask_overlay(mn.x_test[0], mn.protected, title=f"a test '{mn.y_test[0]}' with its protected rows")

# %%
mn_preset = cftkit.presets.get("mnist").replace(batch_size=100, n_ce=500, learning_rate=0.003)
train = dict(epochs=30, jit_compile=False, steps_per_execution=20)
mn_ct, _ = experiments.train_model(mn, mn_preset, "full", constraints=mn_protected.constraints, **train)
mn_bl, _ = experiments.train_model(mn, mn_preset, "vanilla", **train)
print({name: round(ev.accuracy(m, mn.x_test, mn.y_test), 3) for name, m in (("BL", mn_bl), ("CT", mn_ct))})

# %% [markdown]
# One test image of each digit 0–5, each asked to become the next digit (0 → 1, 1 → 2, …), searched with
# ECCCo under the protection constraints. Rows: the factual, BL's counterfactual, CT's counterfactual.

# %%
idx = [int(np.flatnonzero(mn.y_test == d)[0]) for d in range(6)]
x, labels = mn.x_test[idx], mn.y_test[idx]
targets = (labels + 1) % 10
search = dict(constraints=mn_protected.constraints, threshold=0.5, max_steps=50, cost_weight=0.0, energy_weight=1.0)
cfs = {name: cftkit.search(m, x, targets, **search).counterfactual for name, m in (("BL", mn_bl), ("CT", mn_ct))}
titles = [f"factual {l}" for l in labels] + [f"BL → {t}" for t in targets] + [f"CT → {t}" for t in targets]
fig = plots.mnist_grid(np.concatenate([x, cfs["BL"], cfs["CT"]]), nrow=3, titles=titles)
for name, m in (("BL", mn_bl), ("CT", mn_ct)):
    print(f"{name}: valid {ev.validity(m, cfs[name], targets).mean():.2f}, "
          f"largest change in a protected pixel {np.abs(cfs[name] - x)[:, list(mn.protected)].max():.1f}")

# %% [markdown]
# Both models reach every target, but differently. BL's counterfactuals add speckle noise all over the
# image — an adversarial-looking edit. CT's edits are smoother and more stroke-like (in 0 → 1, a "1"
# is drawn into the "0"): closer to what a digit of the target class looks like, which is what
# "plausible" means for images. Neither model touches a protected pixel. The change x′ − x of the first
# CT counterfactual shows where the edit happened:

# %%
fig, axes = plt.subplots(1, 3, figsize=(8, 3), layout="constrained")
_ = plots.protected_mask_overlay(x[0], mn.protected, ax=axes[0], title=f"factual {labels[0]}")
_ = plots.protected_mask_overlay(cfs["CT"][0], mn.protected, ax=axes[1], title=f"CT → {targets[0]}")
_ = plots.protected_mask_overlay(cfs["CT"][0] - x[0], mn.protected, ax=axes[2], title="change x′ − x")

# %% [markdown]
# ### Exercise 2 — protect the left and right borders too
#
# Make the five leftmost and five rightmost pixel **columns** immutable as well (in addition to the
# protected rows): set `border` to the list of their pixel indices, search CT's (`mn_ct`)
# counterfactuals for the same six images `x` and targets `targets` again, with the settings of the
# search above (τ = 0.5, T = 50, `cost_weight=0.0`, `energy_weight=1.0`), store them in `cf_frame`, and
# check that no pixel in those columns changed. Show the new counterfactuals with `plots.mnist_grid`.
# (Hint: pixel (r, c) is feature `28·r + c`; `Constraints.with_immutable(indices)`.)
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.border_frame.hint()` gives a hint,
# `ex.border_frame.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "border_frame", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
border = [28 * r + c for r in range(28) for c in (*range(5), *range(23, 28))]
frame = mn_protected.constraints.with_immutable(border)
cf_frame = cftkit.search(mn_ct, x, targets, constraints=frame, threshold=0.5, max_steps=50,
                         cost_weight=0.0, energy_weight=1.0).counterfactual
print("largest change in a border column:", float(np.abs(cf_frame - x)[:, border].max()))
fig = plots.mnist_grid(cf_frame, nrow=1, titles=[f"CT → {t}" for t in targets])
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "border_frame_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.border_frame.assert_correct(border, cf_frame, model=mn_ct, factuals=x, targets=targets,
                               constraints=mn_protected.constraints)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.border_frame.assert_hidden(border, cf_frame, model=mn_ct, factuals=x, targets=targets,
                              constraints=mn_protected.constraints)
### END HIDDEN TESTS

# %% [markdown]
# ## What to try next
#
# * Swap California housing for **Adult** (`cftkit.datasets.load_adult(n_train=2000)`; `age` is
#   immutable, categorical features are one-hot groups that the search keeps valid).
# * Train MNIST longer (the paper: 10 000 images, 100 epochs, `jit_compile=True`) and watch the CT
#   counterfactuals become cleaner digits.
# * Make `HouseAge` *increase-only* instead of immutable: `ch.with_mutability([1], "increase")`.
# * Evaluate MNIST with the protocol (`n_individuals=25` as in the paper) and compare IP\* at both
#   length scales — in 784 dimensions, ℓ = 0.5 sees almost nothing.
# * Continue with **08 · Reproduce** to run the paper's table for a dataset in one call.
