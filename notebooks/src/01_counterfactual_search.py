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
# # 01 · The counterfactual search, step by step
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/01_counterfactual_search.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/01_counterfactual_search.ipynb) — the student version: exercises with
# checks, no solutions.
#
# Every counterfactual in `cftkit` comes from the same loop, written once in TensorFlow and run for
# many factuals at once. Starting at the factual, x₀ = x, each step is
#
# x_{t+1} = clip( x_t − η ∇ₓ [ CE(f(x_t), y⁺) + λ_cost ‖x_t − x‖₁ + λ_egy φ_t (E(x_t) + r E(x_t)²) ] )
#
# with E(x) = −f(x)[y⁺] the *energy* (negative target logit) and φ_t a weight that decays over the
# steps. A sample stops as soon as p(y⁺ | x_t) ≥ τ (it is then **mature**) or after T steps.
# *Generic* uses only the first two terms; *ECCCo* adds the energy term.
#
# **Learning goals**
# - run `cftkit.search` and read a `SearchResult` (`counterfactual`, `mature`, `steps`, `path`);
# - see what η (step size), T (max steps), τ (threshold), λ_cost and λ_egy do, with the
#   `SearchExplorer` widget;
# - compare the Generic and ECCCo generators side by side.

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
from cftkit import evaluation as ev, plots, tf, widgets
from cftkit.exercises import lesson01 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(0, threads=2)  # Python, NumPy, TF and Keras seeds; 2 threads give the same numbers everywhere
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no "tf.function retracing" notes: cftkit traces one
                                                         # search graph per model and setting, on purpose

# %% [markdown]
# ## 1. A model to explain
#
# A baseline classifier on the paper's *moons* data (600 training points, 30 short epochs).

# %%
ds = cftkit.datasets.load("moons")
preset = cftkit.presets.get("moons")
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
model, _ = train("vanilla")
print(f"test accuracy {ev.accuracy(model, ds.x_test, ds.y_test):.3f}")
plots.decision_boundary(model, ds.x_test, ds.y_test, max_points=400, title="BL on moons: p(y = 1 | x)",
                        colorbar=True)
plt.show()

# %% [markdown]
# ## 2. One search, one step at a time
#
# We take one test point, ask for the other class and keep the whole path (`return_path=True`).
# The paper's step size is η = 0.1; this model is so steep that a step that large crosses the
# boundary at once, so we use η = 0.02 to be able to watch. τ = 0.9 asks for a confident
# counterfactual.

# %%
INDEX = 16
constraints = ds.constraints.expanded_to(ds.x_test)
x0 = ds.x_test[[INDEX]]
target = 1 - ev.predict(model, x0)
res = cftkit.search(model, x0, target, constraints=constraints, learning_rate=0.02, threshold=0.9,
                    return_path=True)
probs = widgets.path_probabilities(model, res)
print(f"factual {np.round(x0[0], 3)}, target y⁺ = {target[0]}: {res.steps[0]} steps, mature = {res.mature[0]}")
for t, (point, p) in enumerate(zip(plots.path_points(res), probs)):
    print(f"  t = {t:2d}   x_t = ({point[0]:+.3f}, {point[1]:+.3f})   p(y⁺ | x_t) = {p:.3f}")

# %%
fig, axes = plt.subplots(2, 2, figsize=(10, 8.4), layout="constrained")
axes = axes.ravel()
for ax, upto in zip(axes, (0, 3, None)):
    plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=200, legend=False)
    plots.counterfactual_paths(res, ax=ax, upto=upto, show_nascent=False, legend=False)
    ax.set_title("the whole path" if upto is None else f"after {upto} steps")
axes[3].plot(probs, "o-")
axes[3].axhline(0.9, ls="--", color="k", label="τ = 0.9")
axes[3].set(xlabel="step t", ylabel="p(y⁺ | x_t)", title="probability of the target", ylim=(0, 1))
axes[3].legend(loc="lower right")
fig.legend(*plots.legend_entries(axes[:3]), loc="outside lower center", ncols=6, fontsize="small")
plt.show()

# %% [markdown]
# ### Exercise 1 — The first step by hand
#
# The search is plain gradient descent. Write `first_step(model, x, target, learning_rate)`, the first step
# of a **Generic** search for a batch `x` of shape `(N, D)`: x₁ = x − η ∇ₓ CE(f(x), y⁺), with the softmax
# cross-entropy of the logits `model(x)` to `target` (summed over the rows) and its gradient from
# `tf.GradientTape`. It should return a NumPy array of shape `(N, D)`. (The distance term λ_cost‖x − x₀‖₁
# has gradient 0 at the factual itself, and the first step starts there.)
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.first_step.hint()` gives a hint,
# `ex.first_step.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "first_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
def first_step(model, x, target, learning_rate):
    """x₁ = x − η ∇ₓ CE(f(x), y⁺): the first step of a Generic search, for a batch x (N, D)."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=model(x)))
    return (x - learning_rate * tape.gradient(loss, x)).numpy()
    ### END SOLUTION


x1 = first_step(model, x0, target, 0.02)
print(f"x₀ = {np.round(x0[0], 4)}  →  x₁ = {np.round(x1[0], 4)}")

# %% nbgrader={"grade": true, "grade_id": "first_step_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.first_step.assert_correct(first_step, model=model, x=x0, target=target)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.first_step.assert_hidden(first_step, model=model, x=x0, target=target)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Explore it yourself: `SearchExplorer`
#
# Run the cell below in a live notebook. Pick a point (`index`, or *free x/y*), a target and a
# generator, move the sliders for η, T, τ, λ_cost and λ_egy, and press ▶ (or drag `step`) to replay
# the search. *background* switches between the classifier and the energy of the target class.
# Things to try:
#
# - η = 0.1 (the paper's value): how many steps are left?
# - τ close to 1: where do counterfactuals end now?
# - T = 2: the search is cut short and the counterfactual is **not mature** (✕).

# %%
explorer = widgets.SearchExplorer(model, ds, index=INDEX, learning_rate=0.02, threshold=0.9)
explorer

# %% [markdown]
# Widgets need a running kernel (a notebook viewed without one shows none), so here is also, as a
# plain picture, what a second explorer draws with T = 2 steps and the energy background (the explorer above stays as
# you left it).

# %%
short = widgets.SearchExplorer(model, ds, index=INDEX, learning_rate=0.02, threshold=0.9, max_steps=2,
                               background="energy")
display(short.draw())
print(f"steps {short.current_result.steps[0]}, mature {short.current_result.mature[0]}")

# %% [markdown]
# ## 4. The threshold τ decides how deep a counterfactual goes
#
# The search stops at the first state with p(y⁺ | x) ≥ τ, so τ = 0.5 stops right at the decision
# boundary while τ = 0.99 walks well into the target class (and costs more: a longer move).

# %%
factuals = ds.x_test[:10]
targets = 1 - ev.predict(model, factuals)
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
for ax, tau in zip(axes, (0.5, 0.99)):
    r = cftkit.search(model, factuals, targets, constraints=constraints, learning_rate=0.02, threshold=tau,
                      return_path=True)
    plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=200, legend=False)
    plots.counterfactual_paths(r, ax=ax, show_nascent=False, legend=False)
    ax.set_title(f"τ = {tau}: mean cost {ev.cost(r.counterfactual, factuals).mean():.2f}")
plt.show()

# %% [markdown]
# ## 5. Generic vs ECCCo
#
# ECCCo adds λ_egy·φ_t·(E + r·E²) to the search loss: it prefers points where the target logit is
# high, i.e. regions the model considers typical of y⁺. `SideBySide` runs the same factual through
# both generators (the sliders apply to both panels).

# %%
side_by_side = widgets.SideBySide(model, ds, generators=("generic", "eccco"), index=INDEX,
                                  learning_rate=0.02, threshold=0.9, energy_weight=20.0)
side_by_side

# %% [markdown]
# The same comparison without widgets, for ten factuals, and measured on 200 test points: ECCCo's
# counterfactuals are a little more expensive (longer moves) and a little more plausible (lower IP).

# %%
x_eval = ds.x_test[:200]
t_eval = 1 - ev.predict(model, x_eval)
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
for ax, generator in zip(axes, ("generic", "eccco")):
    kw = dict(generator=generator, constraints=constraints, learning_rate=0.02, threshold=0.9, energy_weight=20.0)
    r = cftkit.search(model, factuals, targets, return_path=True, **kw)
    cf = cftkit.search(model, x_eval, t_eval, **kw).counterfactual
    plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=200, legend=False)
    plots.counterfactual_paths(r, ax=ax, show_nascent=False, legend=False)
    ip = ev.implausibility(cf, t_eval, ds.x_test, ds.y_test).mean()
    ax.set_title(f"{generator}: IP {ip:.3f}, cost {ev.cost(cf, x_eval).mean():.3f}")
plt.show()

# %% [markdown]
# ### Exercise 2 — How strong should the energy term be?
#
# For λ_egy ∈ {0, 5, 20, 50}, search ECCCo counterfactuals for the 200 points `x_eval` (targets `t_eval`,
# η = 0.02, τ = 0.9, `constraints`) and store `sweep[λ_egy] = {"ip": …, "cost": …, "mature": …}`: the mean
# IP, the mean cost and the share of mature counterfactuals. What do you gain and what do you pay as
# λ_egy grows?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.energy_sweep.hint()` gives a hint,
# `ex.energy_sweep.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "energy_sweep", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
sweep = {}
for energy_weight in (0.0, 5.0, 20.0, 50.0):
    r = cftkit.search(model, x_eval, t_eval, generator="eccco", constraints=constraints, learning_rate=0.02,
                      threshold=0.9, energy_weight=energy_weight)
    sweep[energy_weight] = {"ip": float(ev.implausibility(r.counterfactual, t_eval, ds.x_test, ds.y_test).mean()),
                            "cost": float(ev.cost(r.counterfactual, x_eval).mean()),
                            "mature": float(r.mature.mean())}
### END SOLUTION
for energy_weight, s in sweep.items():
    print(f"λ_egy = {energy_weight:4.0f}: IP {s['ip']:.3f}, cost {s['cost']:.3f}, mature {s['mature']:.2f}")

# %% nbgrader={"grade": true, "grade_id": "energy_sweep_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.energy_sweep.assert_correct(sweep, model=model, x=x_eval, targets=t_eval, dataset=ds, constraints=constraints)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.energy_sweep.assert_hidden(sweep, model=model, x=x_eval, targets=t_eval, dataset=ds, constraints=constraints)
### END HIDDEN TESTS

# %% [markdown]
# ## What to try next
#
# - In the explorer, choose *free x/y* and put the factual far outside the data: how does the domain
#   (the dashed box of lesson 02) stop the search?
# - Search with `max_steps=0`: what is returned, and why is it not mature?
# - Time `cftkit.search` on all 900 test points at once (`%time`) with and without `jit_compile=True`.
# - **02 · Actionability** adds constraints to the same search.
