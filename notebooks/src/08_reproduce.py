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
# # 08 · Reproducing the paper's table
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/08_reproduce.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/08_reproduce.ipynb) — the student version: exercises with
# checks, no solutions.
#
# Everything from the last three notebooks — train BL and CT, train CT with a protected feature,
# run the evaluation protocol twice, compare, test robustness and feature sensitivity — is packaged
# in one call, `cftkit.experiments.reproduce`; the command line (`cftkit reproduce`) runs the same
# function. The paper's full protocol takes minutes per training seed, so cftkit ships its results:
# we first read them next to the paper's Table I, then run a quick version ourselves.
#
# **Learning goals**
#
# * read the stored full-protocol results next to the paper's, dataset by dataset and seed by seed
#   (`cftkit.experiments.stored_results`, `cftkit.widgets.ResultsExplorer`);
# * run `reproduce` in quick mode on *circles* and reach the paper's sign and size for IP;
# * see why the training seed matters: a baseline whose hidden units are all off around the origin;
# * understand the difference between a *mean of ratios* (the table) and a *ratio of means*;
# * say when a reduction of ours agrees with the paper's;
# * know how to run the full protocol from the command line.
#
# *Runtime: about a minute on two CPU cores.*

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
from IPython.display import display

import cftkit
from cftkit import evaluation as ev, experiments, widgets
from cftkit.exercises import lesson08 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(NOTEBOOK_SEED, threads=2)  # before any TensorFlow op: reproducible numbers

# %% [markdown]
# ## 1 · The stored full-protocol results
#
# cftkit ships one `results.json` per dataset (package data, `cftkit/data/results/<dataset>/`), each
# written by `cftkit reproduce` with the paper's presets: 10 training seeds for the synthetic data, one
# for the real data. `experiments.stored_results(name)` reads one and checks its layout; its
# `protocol` entry records every setting, summarised by `protocol_summary`.

# %%
stored = {name: experiments.stored_results(name) for name in experiments.stored_datasets()}
for name, result in stored.items():
    print(f"{name:19} {experiments.protocol_summary(result)}")

# %% [markdown]
# One line per dataset: our reduction (the mean over training seeds) next to the paper's, for the
# paper's three columns. ✓ marks a cell with the paper's sign and a size within ±50 % of it.

# %%
print(widgets.overview_text(stored))
cells = [(name, c) for name, r in stored.items() for c in experiments.paper_comparison(r)["metrics"].values()]
close = [(name, c) for name, c in cells if c["agreement"].startswith("within")]
print(f"\n{len(close)} of {len(cells)} cells within ±50 % of the paper's value; the others:")
for name, c in cells:
    if not c["agreement"].startswith("within"):
        star = "*" if c["paper_significant"] else " (no star)"
        print(f"  {name:19} {c['label']:17} ours {c['ours']:6.1f} %, paper {c['paper']:6.1f} %{star:10} "
              f"{c['agreement']}; ours significantly lower in {c['significant']}/{c['n_seeds']} seeds, "
              f"higher in {c['increases']}")

# %% [markdown]
# Most cells have the paper's sign and a size within ±50 %. Of the others, all but one are cells the
# paper itself does not find significant (no star) — a reproduction cannot be more precise than the
# noise of the measurement — and only one has the opposite sign: Adult's cost, which neither the
# paper nor our run finds significant. The exception is GMSC's IP\* at ℓ = 5, where CT's reduction is
# *larger* than the paper's. IP\* at ℓ = 5 is the column to read with care everywhere: its levels
# are near zero on several datasets (notebook 06: a mean of ratios of near-zero numbers is unstable).
#
# ### Explore the stored results: `ResultsExplorer`
#
# Pick a **dataset**, a **metric** (the highlighted column, whose BL and CT levels the middle panel
# compares with the paper's) and a **training seed** (or the mean over seeds). The left panel shows
# our reduction next to the paper's, with the range over seeds as whiskers and each seed as a dot; the
# right panel shows validity, which the paper reports too. The table under the figure has the numbers.
# Things to try:
#
# * *circles*, IP\* (ℓ = 5): one seed is far below the others — pick it in **training seed**.
# * *linearly_separable*, IP: the seeds disagree; pick seed 0, whose CT model makes IP significantly worse.
# * *overlapping*: CT makes IP (slightly) *worse*, in the paper too.
# * the real datasets: one seed each, so the whiskers are gone.

# %%
explorer = widgets.ResultsExplorer()
explorer

# %% [markdown]
# As a plain picture (it shows without a kernel too), *circles* with IP\* at ℓ = 5, drawn by a separate explorer (the one above
# stays as you leave it), and its table:

# %%
snapshot = widgets.ResultsExplorer(dataset="circles", metric="ip_star_5.0")
display(snapshot.draw())
print(widgets.comparison_text(snapshot.current))

# %% [markdown]
# IP and the cost are close to the paper's, IP\* points the same way. The seed range of IP\* at
# ℓ = 5 is wide because of a single seed. Which one, and what is special about it?

# %%
circles = stored["circles"]
worst = min(circles["seeds"], key=lambda s: s["ip_star_5.0"]["reduction_pct"])
others = [s for s in circles["seeds"] if s is not worst]
print(f"seed {worst['seed']}: IP* (ℓ = 5) reduction {worst['ip_star_5.0']['reduction_pct']:.1f} %, "
      f"BL validity {worst['validity']['bl']:.2f}")
print(f"other seeds: IP* (ℓ = 5) reduction {min(s['ip_star_5.0']['reduction_pct'] for s in others):.1f} to "
      f"{max(s['ip_star_5.0']['reduction_pct'] for s in others):.1f} %, BL validity "
      f"{min(s['validity']['bl'] for s in others):.2f} to {max(s['validity']['bl'] for s in others):.2f}")

# %% [markdown]
# That seed's *baseline* is the odd one: its counterfactuals from the inner blob rarely reach the
# ring (BL validity far below the paper's 0.51), so its few valid ones and its near-zero IP\* values
# make the per-run ratios explode. Section 3 looks inside such a baseline.

# %% [markdown]
# ## 2 · A quick run of our own
#
# `quick=True` shrinks the protocol (20 epochs, 10 runs, 50 individuals per λ_egy); anything passed
# explicitly wins. To stay within about a minute we train for 30 epochs on the full circles data (3000
# points, the paper's preset otherwise) and evaluate 5 runs × 25 individuals; `robustness=False` skips
# the attack curves and integrated gradients. `jit_compile=False` runs TensorFlow's graphs without XLA:
# XLA's compiled programs would save a few seconds here but hold about 300 MB of memory, more than the
# rest of the lesson needs. We train **seed 3**, a seed with a healthy baseline (section 3 shows what
# that means).

# %%
SEED = 3
result = experiments.reproduce("circles", seeds=(SEED,), quick=True, runs=5, epochs=30, individuals=25,
                               progress=False, robustness=False, jit_compile=False)

# %% [markdown]
# The result is a plain dictionary, laid out like the stored files (the CLI writes it to
# `results.json`): one entry per table metric, accuracy and validity, the protocol, per-seed details.

# %%
print(sorted(result))
print({k: result["protocol"][k] for k in ("epochs", "runs", "individuals_per_lambda", "energy_weights",
                                          "length_scales", "protected")})
quick = experiments.paper_comparison(result)
print(widgets.comparison_text(quick))

# %% [markdown]
# With 30 of the paper's 100 epochs and 5 of its 100 runs, the IP reduction already has the paper's
# sign and a size within ±50 % of its 58.9 %, and so does the cost reduction (somewhat below the
# paper's 43.0 %). The baseline's validity is about one half, as in the paper: only about half of
# BL's counterfactuals reach τ = 0.95 within 50 steps, while all of CT's do. IP\* at ℓ = 5 rests on
# near-zero levels (the BL / CT column), so it is the least stable of the three: its mean of ratios
# and its ratio of means differ most (Exercise 1).

# %% [markdown]
# ## 3 · Why the seed matters: a dead baseline
#
# BL is a 2 → 32 → 2 ReLU network. At the origin — the middle of the inner blob — a hidden unit's
# input is its bias, so a unit is active there only if its bias is positive. If no unit is active,
# the logits are constant in a neighbourhood of the origin: the gradient is exactly zero and a
# gradient search that starts there never moves. We train the baselines of seed 1 and of our seed
# as `reproduce` did and look:

# %%
ds = cftkit.datasets.load("circles")
preset = cftkit.presets.get("circles")
angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
ring = 0.2 * np.c_[np.cos(angles), np.sin(angles)].astype(np.float32)  # points at distance 0.2 from the origin
for seed in (1, SEED):
    bl, _ = experiments.train_model(ds, preset, "vanilla", seed=seed, epochs=30, jit_compile=False)
    bias = bl.classifier.layers[0].bias.numpy()
    logits = ev.predict_logits(bl, np.vstack([np.zeros((1, 2), np.float32), ring]))
    print(f"seed {seed}: hidden units active at the origin {int((bias > 0).sum()):2d} of {bias.size}, "
          f"largest logit change within 0.2 of it {np.abs(logits[1:] - logits[0]).max():.3f}")

# %% [markdown]
# Seed 1's baseline has no unit active at the origin and is exactly flat around it; seed 3's has
# several. A flat baseline is a fine classifier (it predicts the inner class there) but a poor
# subject for gradient-based explanations: its searches stall, its validity drops and the ratios
# of its near-zero IP\* values explode — which is why the stored circles results have one seed far
# from the others, and why a quick run on a single seed should use a healthy one.

# %% [markdown]
# ## 4 · Mean of ratios vs ratio of means
#
# The table's reduction is (1 − mean_r CT_r/BL_r)·100 over runs r (docs/method.md#aggregation-and-significance), not
# 1 − mean(CT)/mean(BL). The two agree when BL's values are similar across runs; they drift apart when
# a few runs have a very small BL value.

# %% [markdown]
# ### Exercise 1 — two ways to average
#
# For each metric in `experiments.TABLE_METRICS` (the keys of `result` that name the table's
# columns), compute the ratio-of-means reduction (1 − `ct_mean`/`bl_mean`)·100 from `result[metric]`,
# store it in the dict `ratio_of_means` (metric → percent) and print it next to `reduction_pct`, the
# table's mean of ratios. Set `differs_most` to the metric whose two averages differ most (the largest
# absolute difference). Why that one?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.two_averages.hint()` gives a hint,
# `ex.two_averages.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "two_averages", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
ratio_of_means = {metric: (1 - result[metric]["ct_mean"] / result[metric]["bl_mean"]) * 100
                  for metric in experiments.TABLE_METRICS}
differs_most = max(ratio_of_means, key=lambda m: abs(ratio_of_means[m] - result[m]["reduction_pct"]))
for metric, value in ratio_of_means.items():
    print(f"{metric:12} mean of ratios {result[metric]['reduction_pct']:8.2f}   ratio of means {value:8.2f}")
print("differs most:", differs_most)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "two_averages_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.two_averages.assert_correct(ratio_of_means, differs_most, result=result)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.two_averages.assert_hidden(ratio_of_means, differs_most, result=result)
### END HIDDEN TESTS

# %% [markdown]
# ## 5 · What counts as agreeing with the paper
#
# Section 1 marked a cell ✓ when our reduction has the paper's sign and a size within ±50 % of the
# paper's. One condition says both: |ours − paper| ≤ 0.5·|paper|. Within half the paper's size of
# it, our number cannot cross zero, and the tolerance scales with the paper's own number: a cell
# where the paper reports 60 % may be off by 30 points, one where it reports 4 % by only 2.
#
# ### Exercise 2 — what counts as agreeing with the paper?
#
# Write `within(ours, paper, tolerance=0.5)`: `True` (a bool) when our reduction `ours` lies within
# ±tolerance·|paper| of the paper's `paper`, the boundary included. Then count the cells of section 1
# (`cells`: pairs of a dataset name and a cell `c`, with our reduction `c["ours"]` and the paper's
# `c["paper"]`) that agree, and compare with the count printed there. Why does the condition need the
# absolute value |paper|?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.agreement.hint()` gives a hint,
# `ex.agreement.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "agreement", "locked": false, "schema_version": 3, "solution": true, "task": false}
def within(ours, paper, tolerance=0.5):
    """True when our reduction is within ±tolerance·|paper| of the paper's (which implies the same sign)."""
    ### BEGIN SOLUTION
    return bool(abs(ours - paper) <= tolerance * abs(paper))
    ### END SOLUTION


### BEGIN SOLUTION
n_within = sum(within(c["ours"], c["paper"]) for _, c in cells)
print(f"{n_within} of {len(cells)} cells within ±50 % of the paper's value")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "agreement_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.agreement.assert_correct(within, stored=stored)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.agreement.assert_hidden(within, stored=stored)
### END HIDDEN TESTS

# %% [markdown]
# ## 6 · The same from the command line
#
# ```bash
# cftkit reproduce --dataset circles --quick --out results/circles          # a few minutes
# cftkit reproduce --dataset all-synthetic --seeds 10 --out results/syn     # the full protocol
# cftkit reproduce --dataset all-real --seeds 1 --out results/real
# ```
#
# Each run writes `results.json` (every setting and number above), `results.md` (the table) and, for
# 2-D data, a BL-vs-CT figure; `--dataset all-…` writes one folder per dataset. The last two commands
# made the stored results of section 1; `widgets.ResultsExplorer(root="results/syn")` shows your own.
# `--runs`, `--epochs`, `--individuals` and `--no-jit` mirror the keyword arguments used here.

# %% [markdown]
# ## What to try next
#
# * Run `reproduce("circles", quick=True, seeds=(1,), epochs=30, runs=5, individuals=25, robustness=False,
#   jit_compile=False)`: the dead baseline of section 3 in your own run.
# * Try `moons` (τ = 0.9), where the paper's IP\* reduction is not significant.
# * Pass `out="results/circles"` to write the JSON, the table and the BL-vs-CT figure, then open it
#   with `widgets.ResultsExplorer(root="results")`.
# * Drop `robustness=False` and look at `result["seeds"][0]["integrated_gradients"]` and
#   `["robust_accuracy"]`: the protected-feature sensitivity of notebook 06 and the robustness curves.
