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
# # 04 · Nascent counterfactuals are adversarial examples
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/04_nascent_adversarial.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/04_nascent_adversarial.ipynb) — the student version: exercises with
# checks, no solutions.
#
# A counterfactual search and an adversarial attack do the same thing: push an input towards another
# class with gradients. The difference is the size of the push. Early in a search the state is
# still within a small **ε-ball** around the factual; the last such state is the **nascent
# counterfactual**. CT uses it as an adversarial example, with the factual's *true* label, in its
# fourth loss term (adv), which should make the model more robust as a by-product.
#
# **Learning goals**
# - draw the L∞ ε-ball and find the nascent counterfactual on a search path (`SearchResult.nascent`),
#   and watch it move as ε, T and η change with the `NascentExplorer` widget;
# - see that nascent counterfactuals move the prediction towards y⁺ without (usually) crossing;
# - attack BL and CT with FGSM and PGD and compare robust accuracy.

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
from cftkit.exercises import lesson04 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(0, threads=2)  # Python, NumPy, TF and Keras seeds; 2 threads give the same numbers everywhere
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no "tf.function retracing" notes: cftkit traces one
                                                         # search graph per model and setting, on purpose

# %%
ds = cftkit.datasets.load("moons")
preset = cftkit.presets.get("moons").replace(n_ce=200)
x_train, y_train = ds.x_train[:600], ds.y_train[:600]

# %%
ADAM_LR = 10 * preset.learning_rate  # 10x the paper's Adam step: seconds of training instead of minutes


def train(objective, epochs=30, **changes):
    """The paper's MLP (one hidden layer of 32 ReLUs), trained with `objective` on (x_train, y_train)."""
    model = cftkit.CounterfactualModel(cftkit.build_classifier(2, 2, seed=0), constraints=ds.constraints,
                                       **preset.replace(**changes).model_kwargs(objective))
    model.compile(optimizer=keras.optimizers.Adam(ADAM_LR, epsilon=preset.adam_epsilon), metrics=["accuracy"],
                  steps_per_execution=20)
    return model, model.fit(x_train, y_train, batch_size=preset.batch_size, epochs=epochs, shuffle=False, verbose=0)


# %%
bl, _ = train("vanilla")
ct, ct_history = train("full")
models = {"BL": bl, "CT": ct}
print({name: f"{ev.accuracy(m, ds.x_test, ds.y_test):.3f}" for name, m in models.items()})

# %% [markdown]
# ## 1. The ε-ball and the nascent counterfactual
#
# CT's ε is `preset.adversarial_epsilon` = 0.3 in the L∞ norm: a square of half-width 0.3 around each
# factual. `plots.counterfactual_paths(..., epsilon=0.3)` draws it; the purple diamond is the last
# state of the path inside it. (η = 0.02 again, so the paths have several states.)

# %%
EPS = preset.adversarial_epsilon
constraints = ds.constraints.expanded_to(ds.x_test)
factuals = ds.x_test[:6]
targets = 1 - ev.predict(bl, factuals)
res = cftkit.search(bl, factuals, targets, constraints=constraints, learning_rate=0.02, threshold=0.9,
                    nascent_epsilon=EPS, return_path=True)
ax = plots.decision_boundary(bl, ds.x_test, ds.y_test, max_points=300, legend=False, title=f"BL, ε = {EPS}")
plots.counterfactual_paths(res, ax=ax, epsilon=EPS, legend="outside")
plt.show()
print("‖nascent − factual‖∞:", np.round(np.abs(res.nascent - factuals).max(axis=1), 3))

# %% [markdown]
# ### Exercise 1 — The nascent counterfactual by hand
#
# Find the diamonds yourself. `res.path[k]` is the path of factual k, shape `(S + 1, 2)`, starting at the
# factual (finished searches repeat their last state). Write `nascent(path, factual, epsilon)`: the last
# state x_t of the path with ‖x_t − x‖∞ ≤ ε. Apply it to the six paths and compare with `res.nascent`.
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.nascent_by_hand.hint()` gives a hint,
# `ex.nascent_by_hand.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "nascent_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def nascent(path, factual, epsilon):
    """The last state of one search path (S + 1, D) with ‖x_t − x‖∞ ≤ ε (row 0 is the factual itself)."""
    ### BEGIN SOLUTION
    inside = np.abs(path - factual).max(axis=1) <= epsilon
    return path[np.flatnonzero(inside)[-1]]
    ### END SOLUTION


by_hand = np.array([nascent(res.path[k], factuals[k], EPS) for k in range(len(factuals))])
print("largest difference to res.nascent:", float(np.abs(by_hand - res.nascent).max()))

# %% nbgrader={"grade": true, "grade_id": "nascent_by_hand_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.nascent_by_hand.assert_correct(nascent, result=res, epsilon=EPS)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.nascent_by_hand.assert_hidden(nascent, result=res, epsilon=EPS)
### END HIDDEN TESTS

# %% [markdown]
# ## 2. What the nascent counterfactual does to the prediction
#
# For each factual: the model's probability of the target class at the factual, at the nascent
# counterfactual (at most ε away) and at the final counterfactual, on a **log scale**. Within the
# ball, p(y⁺) already grows by orders of magnitude while the prediction does not flip yet: the
# nascent point marks a direction in which the model is fragile, i.e. an adversarial direction for
# the true label. CT adds CE(f(x_AE), y) to its loss, which teaches the model to keep the true label
# there. (For factuals 3–5 the very first step already leaves the ball, so their nascent
# counterfactual is the factual itself.)

# %%
stages = {"factual": factuals, "nascent": res.nascent, "counterfactual": res.counterfactual}
rows = np.arange(len(factuals))
p = {k: np.asarray(keras.ops.softmax(ev.predict_logits(bl, v)))[rows, targets] for k, v in stages.items()}
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for j, (k, v) in enumerate(p.items()):
    ax.bar(rows + (j - 1) * 0.27, v, width=0.27, label=k)
ax.axhline(0.5, ls="--", color="k", lw=0.8)
ax.set(xlabel="factual", ylabel="p(y⁺ | ·)", yscale="log", title="BL: probability of the target class")
plots.place_legend(ax, "outside")
plt.show()

# %% [markdown]
# With the paper's step η = 0.1 a steep model often jumps out of the ε-ball in the first step; then
# the nascent counterfactual is the factual itself and the adv term just repeats the clean loss. The
# share of nascent points that moved at all, for both models:

# %%
x_eval = ds.x_test[:300]
for name, m in models.items():
    t_eval = 1 - ev.predict(m, x_eval)
    for eta in (0.1, 0.02):
        r = cftkit.search(m, x_eval, t_eval, constraints=constraints, learning_rate=eta,
                          threshold=preset.threshold)
        moved = np.abs(r.nascent - x_eval).max(axis=1) > 0
        print(f"{name}, η = {eta}: nascent moved for {moved.mean():.2f}, "
              f"already in the target class {ev.validity(m, r.nascent, t_eval).mean():.2f}")

# %% [markdown]
# ### Explore it yourself: `NascentExplorer`
#
# One factual at a time: the map with the ε-ball (dashed square), the search path and the nascent
# counterfactual x_AE (◆), the distance ‖x_t − x‖∞ of every state against ε, and p(y⁺ | x_t) on a log
# scale. The nascent step is marked in both small panels. It starts at factual 0 of section 1 (BL,
# ε = 0.3, η = 0.02, τ = 0.9). Things to try in a live notebook:
#
# - `ε` = 0.1, then 0.6: which step is x_AE now?
# - `η` = 0.1, the paper's step size: the first step already leaves the ball;
# - `T` = 1: the search stops after one step, and so does the choice of x_AE;
# - `model` = CT, and `index` 3–5 (the factuals whose x_AE was the factual itself above).

# %%
nascent_explorer = widgets.NascentExplorer(models, ds, index=0, epsilon=EPS, learning_rate=0.02, threshold=0.9)
nascent_explorer

# %% [markdown]
# Widgets need a running kernel (a notebook viewed without one shows none), so here is also, as a
# plain picture, a second explorer with the
# paper's η = 0.1 (the one above stays as you left it): BL's only step jumps out of the ball and past
# τ at once, so x_AE is the factual itself and the adv term would just repeat the clean loss.

# %%
paper_step = widgets.NascentExplorer(models, ds, index=0, epsilon=EPS, learning_rate=0.1, threshold=0.9)
display(paper_step.draw())
print(f"nascent step {paper_step.current_nascent_step} of {paper_step.current_result.steps[0]}")

# %% [markdown]
# ## 3. Attacks: FGSM and PGD
#
# An attack looks for the worst point inside the ε-ball for the **true** label:
#
# - **FGSM** takes one step of size ε along the sign of the loss gradient;
# - **PGD** starts at a random point of the ball and takes many small sign steps, projecting back
#   into the ball after each (40 steps of 0.01 in the paper).
#
# The arrows show FGSM with ε = 0.2 on BL: points near the boundary are pushed across it.

# %%
x_few, y_few = ds.x_test[:40], ds.y_test[:40]
adv = ev.fgsm(bl, x_few, y_few, 0.2)
flipped = ev.predict(bl, adv) != y_few
ax = plots.decision_boundary(bl, ds.x_test, ds.y_test, max_points=300, legend=False,
                             title=f"FGSM, ε = 0.2: {flipped.sum()} of {len(x_few)} points flipped")
ax.quiver(*x_few.T, *(adv - x_few).T, angles="xy", scale_units="xy", scale=1,
          color=np.where(flipped, "k", "0.6"), width=0.004)
plt.show()

# %% [markdown]
# ## 4. Robust accuracy: BL vs CT
#
# `ev.robust_accuracy` attacks every test point at every ε and reports the accuracy that remains
# (ε = 0 is the clean accuracy). We use ε up to 0.3, the radius CT trained with.

# %%
epsilons = np.linspace(0.0, 0.3, 7)
x_test, y_test = ds.x_test[:300], ds.y_test[:300]
curves = {attack: {name: ev.robust_accuracy(m, x_test, y_test, epsilons, attack=attack)
                   for name, m in models.items()} for attack in ("fgsm", "pgd")}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True, layout="constrained")
for ax, (attack, c) in zip(axes, curves.items()):
    plots.robust_accuracy_curves(c, ax=ax, title=attack.upper(), ylim=(0.7, 1.02))
plt.show()
for attack, c in curves.items():
    for name, r in c.items():
        print(f"{attack.upper():4s} {name}: " + "  ".join(f"{a:.3f}" for a in r["accuracy"]))

# %% [markdown]
# CT keeps more of its accuracy as ε grows, although it never saw an attack during training, only
# its own nascent counterfactuals. (After 30 short epochs on 600 points the gap is modest; the
# paper's Figure 4 shows it after full training on every dataset.)

# %% [markdown]
# ### Exercise 2 — The paper's ε grid
#
# The paper reports robust accuracy on the grid `cftkit.defaults.ROBUST_EPSILONS` (0 to 0.1). Compute PGD
# robust accuracy for BL and CT on `x_test, y_test` with that grid, keep the results of
# `ev.robust_accuracy` in `paper_curves = {"BL": …, "CT": …}` and draw both curves in one plot with
# `plots.robust_accuracy_curves`. Is the difference visible at such small ε?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.pgd_paper_grid.hint()` gives a hint,
# `ex.pgd_paper_grid.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "pgd_paper_grid", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
paper_grid = cftkit.defaults.ROBUST_EPSILONS
paper_curves = {name: ev.robust_accuracy(m, x_test, y_test, paper_grid, attack="pgd") for name, m in models.items()}
### END SOLUTION
plots.robust_accuracy_curves(paper_curves, title="PGD on the paper's ε grid", ylim=(0.8, 1.01))
plt.show()
for name, r in paper_curves.items():
    print(f"{name}: " + "  ".join(f"{a:.3f}" for a in r["accuracy"]))

# %% nbgrader={"grade": true, "grade_id": "pgd_paper_grid_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.pgd_paper_grid.assert_correct(paper_curves, models=models, x=x_test, y=y_test)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.pgd_paper_grid.assert_hidden(paper_curves, models=models, x=x_test, y=y_test)
### END HIDDEN TESTS

# %% [markdown]
# ## What to try next
#
# - Train CT with `objective="adversarial"` (adv term only) and with `"energy"` (no adv term): which
#   one buys the robustness?
# - Change `adversarial_epsilon` (e.g. `train("full", adversarial_epsilon=0.1)`) and re-draw the curves.
# - Attack with PGD on the *circles* data: is CT more robust there too?
# - Back to **00 · Start here** for the big picture, or `cftkit reproduce --dataset moons --quick` for
#   the paper's full protocol.
