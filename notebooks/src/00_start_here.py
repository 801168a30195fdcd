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
# # 00 · Start here: counterfactual training in ten minutes
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/00_start_here.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/00_start_here.ipynb) — the student version: exercises with
# checks, no solutions.
#
# A **counterfactual explanation** answers *"what would have to change for the model to decide
# differently?"*: starting from a factual input x, a gradient search moves it until the model
# predicts the target class y⁺. The result x′ is only useful if it is **plausible** (it looks like
# real data of class y⁺) and **actionable** (it changes only what may change).
#
# **Counterfactual training (CT)** (Altmeyer et al., IEEE SaTML 2026) trains a classifier *against its
# own counterfactuals*: during training it searches counterfactuals on the fly and adds loss terms
# that make them look like real target-class data. This notebook tells the whole story once, on a
# toy dataset; lessons 01–04 take each piece apart.
#
# **Learning goals**
# - train the same network normally (the baseline, **BL**) and with **CT** using `cftkit`;
# - search and draw counterfactuals for both models;
# - measure plausibility with **implausibility (IP)**, the mean distance from a counterfactual to
#   real data of its target class, and see that CT's counterfactuals are more plausible;
# - pick any point yourself and compare BL's and CT's counterfactuals with the `SideBySide` widget.

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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow reads both variables when it is imported,
_ = os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # so they come before anything imports it

# %%
import logging

import keras
import matplotlib.pyplot as plt
import numpy as np

import cftkit
from cftkit import evaluation as ev, plots, widgets
from cftkit.exercises import lesson00 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(0, threads=2)  # Python, NumPy, TF and Keras seeds; 2 threads give the same numbers everywhere
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no "tf.function retracing" notes: cftkit traces one
                                                         # search graph per model and setting, on purpose

# %% [markdown]
# ## 1. The data: two circles
#
# The paper's *circles* dataset: class 0 is a small blob in the middle, class 1 a noisy ring around
# it. `cftkit.presets.get` returns the paper's hyperparameters for it. To keep this notebook fast we
# train on 1 200 of the 3 000 training points and search 400 counterfactuals per epoch (the paper: 1 000).

# %%
ds = cftkit.datasets.load("circles")
preset = cftkit.presets.get("circles").replace(n_ce=400)
x_train, y_train = ds.x_train[:1200], ds.y_train[:1200]
print(ds)
print(f"preset: batch {preset.batch_size}, τ = {preset.threshold}, T = {preset.max_steps} search steps, "
      f"λ_div = {preset.lambda_div}, λ_reg = {preset.lambda_reg}, λ_adv = {preset.lambda_adv}")

# %%
fig, ax = plt.subplots(figsize=(4.4, 4.2))
for k, color in enumerate(plots.class_colors(2)):
    ax.scatter(*x_train[y_train == k].T, s=6, color=color, label=f"class {k}")
ax.set(xlabel="x1", ylabel="x2", title="circles (training subset)", aspect="equal")
plots.place_legend(ax, "outside")  # to the right of the plot, not over the ring
plt.show()

# %% [markdown]
# ## 2. Two models: BL and CT
#
# Both models are the paper's MLP wrapped in `cftkit.CounterfactualModel`; only the **objective**
# differs:
#
# - `"vanilla"` (BL): plain cross-entropy;
# - `"full"` (CT): cross-entropy **+** λ_div·div (pull the counterfactuals' energy towards that of
#   real target-class samples) **+** λ_reg·ridge (keep the logits small) **+** λ_adv·adv (classify the
#   almost-counterfactuals correctly). Lessons 03 and 04 explain these terms.
#
# The small helper below builds, compiles and fits one model. With `steps_per_execution` equal to the
# number of batches in an epoch (1 200 / 30 = 40), cftkit runs each epoch as one TensorFlow graph: faster
# here than XLA once compile time is counted, and lighter on memory than Keras' loop over smaller steps.

# %%
ADAM_LR = 10 * preset.learning_rate  # 10x the paper's Adam step: seconds of training instead of minutes


def train(objective, epochs=40, **changes):
    """The paper's MLP (one hidden layer of 32 ReLUs), trained with `objective` on (x_train, y_train)."""
    model = cftkit.CounterfactualModel(cftkit.build_classifier(2, 2, seed=0), constraints=ds.constraints,
                                       **preset.replace(**changes).model_kwargs(objective))
    model.compile(optimizer=keras.optimizers.Adam(ADAM_LR, epsilon=preset.adam_epsilon), metrics=["accuracy"],
                  steps_per_execution=len(x_train) // preset.batch_size)  # one epoch per graph call
    return model, model.fit(x_train, y_train, batch_size=preset.batch_size, epochs=epochs, shuffle=False, verbose=0)


# %%
bl, bl_history = train("vanilla")
ct, ct_history = train("full")
models = {"BL": bl, "CT": ct}
for name, model in models.items():
    print(f"{name}: test accuracy {ev.accuracy(model, ds.x_test, ds.y_test):.3f}")

# %% [markdown]
# Both models classify almost perfectly. CT's `History` also records the counterfactual side of
# every epoch: its loss terms, how many counterfactuals reached the threshold τ ("maturity") and
# how many search steps they needed.

# %%
plots.training_history(ct_history)
plt.show()

# %% [markdown]
# ## 3. Counterfactuals for both models
#
# `cftkit.search` runs the gradient search for many factuals at once. We ask each model to flip its
# own prediction (target y⁺ = 1 − prediction) with the paper's test-time settings (ECCCo generator,
# τ = 0.95, no distance penalty), for three points of each class, and keep the paths.

# %%
idx = np.r_[np.flatnonzero(ds.y_test == 0)[:3], np.flatnonzero(ds.y_test == 1)[:3]]  # 3 factuals per class
factuals = ds.x_test[idx]
search_kw = dict(constraints=ds.constraints.expanded_to(ds.x_test), threshold=0.95, cost_weight=0.0,
                 energy_weight=1.0)
results = {name: cftkit.search(m, factuals, 1 - ev.predict(m, factuals), return_path=True, **search_kw)
           for name, m in models.items()}
plots.compare_boundaries(models, ds.x_test, ds.y_test, results, max_points=300)
plt.show()
for name, res in results.items():
    print(f"{name}: mature {res.mature.astype(int)}, steps {res.steps}")

# %% [markdown]
# Look at the two panels:
#
# - **BL** is confident almost everywhere, with a thin, steep transition. From most points of the
#   blob (class 0) the search cannot even start: all ReLUs are off there, the gradient is exactly zero
#   and the factual stays put (✕ on top of ○). From the ring, the steep logits make each step
#   overshoot, and the search bounces between the walls of the data domain without reaching τ (the
#   grey band: paths longer than 15 steps are drawn thin and faint, these take all T = 50 steps).
# - **CT** has a smooth probability map. Every search takes a few small steps and ends (★) *among*
#   the target class's data: in the blob for ring points and in the ring for blob points.

# %% [markdown]
# ### Try it yourself: one point, both models
#
# `widgets.SideBySide` searches the same factual under both models with the settings above (ECCCo,
# τ = 0.95, λ_cost = 0, λ_egy = 1) and draws both panels. It starts at the ring point of the picture
# above whose BL search bounces between the walls. Run the cell in a live notebook (Binder, JupyterLab)
# and try:
#
# - `index`: other test points; points of the blob ask for the ring and vice versa;
# - *free x/y* and the `x1`/`x2` sliders: a point far from any data, e.g. a corner of the domain;
# - `T (max steps)` = 5: BL is cut short, CT usually still finishes;
# - `τ (threshold)` = 0.6 and `λ_egy` = 0: does BL manage now?

# %%
compare = widgets.SideBySide(models, ds, index=int(idx[3]), threshold=0.95, cost_weight=0.0, energy_weight=1.0)
compare

# %% [markdown]
# Widgets need a running kernel (a notebook viewed without one shows none), so here is also, as a
# plain picture, what a second `SideBySide` draws for a free point in the corner of the domain, (1.2, 1.2), far from any data: BL again
# bounces without reaching τ, CT reaches the blob in three steps.

# %%
corner = widgets.SideBySide(models, ds, point=(1.2, 1.2), threshold=0.95, cost_weight=0.0, energy_weight=1.0)
display(corner.draw())
print({name: f"{int(r.steps[0])} steps, mature {bool(r.mature[0])}" for name, r in corner.current_results.items()})

# %% [markdown]
# ## 4. Why CT's counterfactuals are more plausible
#
# **Implausibility** IP(x′, y⁺) is the mean ℓ1 distance from x′ to the real test points of class y⁺
# (`cftkit.evaluation.implausibility`); lower is more plausible. The picture shows it for one
# factual from the ring: each grey line is one of the distances that are averaged.

# %%
i = 3  # the first factual from the ring (class 1), so y⁺ = 0: the blob
fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True, layout="constrained")
for ax, (name, res) in zip(axes, results.items()):
    plots.implausibility_illustration(res.counterfactual[i], ds.x_test[ds.y_test == res.target[i]], ax=ax)
    ax.set_title(f"{name}: {ax.get_title()}")
plt.show()

# %% [markdown]
# ### Exercise 1 — IP by hand
#
# Compute the numbers in the two titles yourself. Write `mean_l1(cf, points)`: the mean ℓ1 distance
# Σⱼ |x′ⱼ − x⁺ⱼ| from one point `cf` (shape `(2,)`) to every row of `points` (shape `(M, 2)`). Then set
# `ip_bl` and `ip_ct` to the IP of BL's and CT's counterfactual for factual `i`; the points to compare
# with are the test points of that counterfactual's target class, `results[name].target[i]`.
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.ip_by_hand.hint()` gives a hint,
# `ex.ip_by_hand.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "ip_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mean_l1(cf, points):
    """The mean ℓ1 distance from one point `cf` (D,) to the rows of `points` (M, D)."""
    ### BEGIN SOLUTION
    return float(np.abs(points - cf).sum(axis=1).mean())
    ### END SOLUTION


### BEGIN SOLUTION
ip_bl = mean_l1(results["BL"].counterfactual[i], ds.x_test[ds.y_test == results["BL"].target[i]])
ip_ct = mean_l1(results["CT"].counterfactual[i], ds.x_test[ds.y_test == results["CT"].target[i]])
### END SOLUTION
print(f"IP of BL's counterfactual {ip_bl:.3f}, of CT's {ip_ct:.3f}")

# %% nbgrader={"grade": true, "grade_id": "ip_by_hand_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.ip_by_hand.assert_correct(mean_l1, ip_bl, ip_ct, results=results, dataset=ds, i=i)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.ip_by_hand.assert_hidden(mean_l1, ip_bl, ip_ct, results=results, dataset=ds, i=i)
### END HIDDEN TESTS

# %% [markdown]
# Now over 250 test points. *Valid* means the model predicts y⁺ for x′ (argmax), the paper's
# validity measure.

# %%
x_eval = ds.x_test[:250]
for name, m in models.items():
    targets = 1 - ev.predict(m, x_eval)
    cf = cftkit.search(m, x_eval, targets, **search_kw).counterfactual
    ip = ev.implausibility(cf, targets, ds.x_test, ds.y_test)
    print(f"{name}: valid {ev.validity(m, cf, targets).mean():.2f}, mean IP {ip.mean():.3f}, "
          f"mean cost ‖x′ − x‖₁ {ev.cost(cf, x_eval).mean():.3f}")

# %% [markdown]
# CT's counterfactuals are all valid and clearly closer to real target-class data (the paper reports
# a 59 % lower IP on this dataset after full training). Nothing about the *search* changed: the model
# itself now has gradients that lead to plausible places.

# %% [markdown]
# ### Exercise 2 — Does the generator matter?
#
# The searches above used ECCCo, whose energy term already pulls counterfactuals towards low-energy
# (typical) regions. Repeat the 250-point comparison with `generator="generic"` (plain cross-entropy, no
# energy term) and store, per model name, the share of valid counterfactuals in `generic_valid` and the
# mean IP in `generic_ip` (dicts of floats). Does CT still win?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.generic_search.hint()` gives a hint,
# `ex.generic_search.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "generic_search", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
generic_valid, generic_ip = {}, {}
for name, m in models.items():
    targets = 1 - ev.predict(m, x_eval)
    cf = cftkit.search(m, x_eval, targets, generator="generic", **search_kw).counterfactual
    generic_valid[name] = float(ev.validity(m, cf, targets).mean())
    generic_ip[name] = float(ev.implausibility(cf, targets, ds.x_test, ds.y_test).mean())
### END SOLUTION
for name in models:
    print(f"{name} (generic): valid {generic_valid[name]:.2f}, mean IP {generic_ip[name]:.3f}")

# %% nbgrader={"grade": true, "grade_id": "generic_search_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.generic_search.assert_correct(generic_valid, generic_ip, models=models, x_eval=x_eval, dataset=ds, search_kw=search_kw)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.generic_search.assert_hidden(generic_valid, generic_ip, models=models, x_eval=x_eval, dataset=ds, search_kw=search_kw)
### END HIDDEN TESTS

# %% [markdown]
# ## Before you leave: shut the kernel down
#
# Every open lesson has a kernel of its own, the Python process that runs its cells and keeps its
# data, models and TensorFlow in memory: about 0.4–0.5 GB per lesson. Binder gives you 2 GB in all;
# when your kernels together need more, Binder restarts the kernel (everything it had computed is
# lost), and it culls kernels that have been idle for 10 minutes. So when you are done with a
# lesson, shut its kernel down before you open the next one. In JupyterLab:
#
# - **Kernel ▸ Shut Down Kernel** in the menu bar stops the kernel of the notebook in front; or
# - the **Running Terminals and Kernels** panel in the left sidebar lists every running kernel, each
#   with a button that shuts it down (and one that shuts them all down).
#
# Closing a notebook's tab does **not** stop its kernel: it keeps running, and keeps its memory,
# until you shut it down.

# %% [markdown]
# ## What to try next
#
# - In the `SideBySide` widget, find a factual where BL's counterfactual *is* mature: how plausible
#   does it look next to CT's?
# - **01 · Counterfactual search**: step through one search with a widget; Generic vs ECCCo.
# - **02 · Actionability**: domains, immutable and increase-only features.
# - **03 · Energy and divergence**: what the div and ridge terms do, and why the ridge is needed.
# - **04 · Nascent counterfactuals and adversarial robustness**: the ε-ball, FGSM and PGD.
# - Re-run this notebook with `"moons"` instead of `"circles"` (remember the preset), or train longer
#   with the paper's own Adam step (`ADAM_LR = preset.learning_rate`, more epochs).
