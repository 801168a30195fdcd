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
# # 03 · Energy, contrastive divergence and the ridge
#
# [Open on Binder](https://mybinder.org/v2/gh/cftkit/cftkit/main?urlpath=lab/tree/notebooks/student/03_energy_and_divergence.ipynb) · [Open in Colab](https://colab.research.google.com/github/cftkit/cftkit/blob/main/notebooks/student/03_energy_and_divergence.ipynb) — the student version: exercises with
# checks, no solutions.
#
# CT borrows from energy-based models. For a target class y⁺ the **energy** of a point is its negative
# target logit, E(x, y⁺) = −f(x)[y⁺]: low energy means "typical of y⁺" for the model. For a batch of
# counterfactuals x′ᵢ and real target-class samples x⁺ᵢ, CT adds
#
# - **div** = mean[E(x⁺ᵢ) − E(x′ᵢ)] (contrastive divergence): lower the energy of real samples, raise
#   that of counterfactuals, until the model no longer tells them apart;
# - **ridge** = mean[E(x⁺ᵢ)² + E(x′ᵢ)²]: keep energies (logits) small, because div alone is unbounded.
#
# **Learning goals**
# - draw a classifier's energy landscape and compare BL with CT;
# - compute div and ridge with `cftkit` from a batch of counterfactual tuples;
# - see what happens without the ridge (λ_reg = 0), in training and, with the `EnergyExplorer`
#   widget, for one tuple (x′, x⁺) you pick;
# - know what a **mature** counterfactual is and what CT does with the others.

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
from cftkit.exercises import lesson03 as ex  # the exercises' checks: ex.<name>.check(...), .hint(), .solution()

cftkit.seed_everything(0, threads=2)  # Python, NumPy, TF and Keras seeds; 2 threads give the same numbers everywhere
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no "tf.function retracing" notes: cftkit traces one
                                                         # search graph per model and setting, on purpose

# %%
ds = cftkit.datasets.load("circles")
preset = cftkit.presets.get("circles").replace(n_ce=200)
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
bl, bl_history = train("vanilla")
ct, ct_history = train("full")  # λ_reg = 0.5, the paper's value for circles
models = {"BL": bl, "CT": ct}
print({name: f"{ev.accuracy(m, ds.x_test, ds.y_test):.3f}" for name, m in models.items()})

# %% [markdown]
# ## 1. The energy landscape
#
# `plots.energy_landscape` draws E(x, y⁺ = 1) over the plane (a little beyond the data): where does
# each model find class 1, the ring, "typical"? Both networks are piecewise linear, so their energy
# keeps falling away from the data. But look at the colour bars: BL's energy drops to about −30 in
# the corners, where no data lives, while CT's stays within a few units of zero, close to its value
# on the ring itself.

# %%
xlim, ylim = plots.data_limits(ds.x_test, padding=1.0)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for ax, (name, m) in zip(axes, models.items()):
    plots.energy_landscape(m, 1, xlim, ylim, ax=ax)
    ax.scatter(*ds.x_test[ds.y_test == 1][::3].T, s=5, color="w", alpha=0.7)
    ax.set_title(f"{name}: E(x, y⁺ = 1) (white: class-1 data)")
plt.show()

# %% [markdown]
# ## 2. div and ridge, computed by the package
#
# `CounterfactualModel.generate_counterfactuals` builds the tuples of one training step exactly as
# `train_step` does: a target y⁺ ≠ prediction, a search (ECCCo, T = 30, τ = preset), one real sample
# x⁺ of class y⁺, and the nascent point x_AE (lesson 04). Then `compute_ct_loss` returns the batch
# loss and its terms. The random numbers `u` pick targets and x⁺ (here the same for both models).

# %%
n = 100
xb, yb = x_train[:n], y_train[:n]
u = np.random.default_rng(0).uniform(size=(2, n)).astype("float32")
tuples, terms = {}, {}
for name, m in models.items():
    tuples[name] = m.generate_counterfactuals(xb, yb, u[0], u[1])
    batch = dict(tuples[name], weight=np.ones(n, "float32"))
    _, t, _ = m.compute_ct_loss(xb, yb, batch, float(n), training=False)
    terms[name] = {k: float(v) for k, v in t.items()}
    print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in terms[name].items()))

# %% [markdown]
# What do the numbers mean? Training **minimises** div = mean[E(x⁺) − E(x′)], so the model learns to
# give real target samples a lower energy (higher target logit) than its own counterfactuals; the
# search, which walks downhill in energy, is then pushed on towards real data. Alone, div could be
# won by inflating all logits; the ridge (mean squared energy) forbids that.
# `cftkit.training.contrastive_divergence_and_ridge` computes both from the two energy vectors:
#
# - BL's energies spread over many units (ridge ≈ 38). Only 10 % of its searches matured; the
#   others have x′ = x⁺ (section 5), so most of its two histograms coincide.
# - CT's energies all lie within about one unit of zero, the counterfactuals slightly above the
#   real samples (div < 0).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
for ax, (name, m) in zip(axes, models.items()):
    tup = tuples[name]
    onehot = keras.ops.one_hot(tup["target"], 2)
    e_plus, e_cf = (cftkit.generators.energy(m(tup[key]), onehot) for key in ("x_plus", "x_cf"))
    div, ridge = cftkit.training.contrastive_divergence_and_ridge(e_plus, e_cf, 1.0, float(n))
    ax.hist(np.asarray(e_plus), bins=20, alpha=0.6, label="E(x⁺): real target samples")
    ax.hist(np.asarray(e_cf), bins=20, alpha=0.6, label="E(x′): counterfactuals")
    ax.set(title=f"{name}: div {float(div):.3f}, ridge {float(ridge):.3f}", xlabel="energy E(x, y⁺)")
    ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# ### Exercise 1 — div and ridge by hand
#
# Recompute CT's div and ridge for the batch `tuples["CT"]` yourself with NumPy. Write
# `energies(model, x, target)`, which returns E(x, y⁺) = −f(x)[y⁺] for every row of `x` (use
# `ev.predict_logits(model, x)`; row i's target is `target[i]`). Then set `my_div` and `my_ridge` from the
# definitions at the top of this lesson and compare them with `terms["CT"]`.
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.div_by_hand.hint()` gives a hint,
# `ex.div_by_hand.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "div_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def energies(model, x, target):
    """E(x, y⁺) = −f(x)[y⁺] for every row of x (n, D), with y⁺ = target[i] for row i."""
    ### BEGIN SOLUTION
    logits = ev.predict_logits(model, np.asarray(x))
    return -logits[np.arange(len(logits)), np.asarray(target)]
    ### END SOLUTION


tup = tuples["CT"]
### BEGIN SOLUTION
e_plus = energies(ct, tup["x_plus"], tup["target"])
e_cf = energies(ct, tup["x_cf"], tup["target"])
my_div = float(np.mean(e_plus - e_cf))
my_ridge = float(np.mean(e_plus**2 + e_cf**2))
### END SOLUTION
print(f"div   by hand {my_div:.3f}   package {terms['CT']['div']:.3f}")
print(f"ridge by hand {my_ridge:.3f}   package {terms['CT']['reg']:.3f}")

# %% nbgrader={"grade": true, "grade_id": "div_by_hand_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.div_by_hand.assert_correct(energies, my_div, my_ridge, model=ct, batch=tuples["CT"])  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.div_by_hand.assert_hidden(energies, my_div, my_ridge, model=ct, batch=tuples["CT"])
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Without the ridge, energies explode
#
# div can always be lowered further by making real-sample logits larger and counterfactual logits
# smaller, without limit. Train CT again with **λ_reg = 0** and compare. The `History` records
# `ct_reg`, the mean squared energy, even when its weight is 0.

# %%
no_ridge, no_ridge_history = train("full", lambda_reg=0.0)
histories = {"λ_reg = 0.5": ct_history, "λ_reg = 0": no_ridge_history}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
for name, h in histories.items():
    axes[0].semilogy(np.arange(1, 31), h.history["ct_reg"], label=name)
    axes[1].plot(np.arange(1, 31), h.history["ct_div"], label=name)
axes[0].set(xlabel="epoch", title="ridge: mean E² (log scale)")
axes[1].set(xlabel="epoch", title="div: mean E(x⁺) − E(x′)")
axes[0].legend()
plt.show()
for name, m in {"λ_reg = 0.5": ct, "λ_reg = 0": no_ridge}.items():
    print(f"{name}: largest |logit| on the test set {np.abs(ev.predict_logits(m, ds.x_test)).max():.1f}, "
          f"test accuracy {ev.accuracy(m, ds.x_test, ds.y_test):.3f}")

# %% [markdown]
# Without the ridge the energies grow by orders of magnitude and the div term swings wildly: the
# model is winning the div game by inflating its logits, not by making counterfactuals plausible.
#
# ## 4. Explore it yourself: div and ridge for one tuple
#
# `widgets.EnergyExplorer` takes one tuple (x′, x⁺) for a target y⁺ and shows E(x′), E(x⁺),
# div = E(x⁺) − E(x′), ridge = E(x⁺)² + E(x′)² and their weighted shares λ_div·div and λ_reg·ridge of
# CT's loss. It then takes a few plain gradient steps on λ_div·div + λ_reg·ridge alone, on a *copy*
# of the model (`cftkit.energy.descend_div_ridge`; the model itself does not change), and draws the
# landscape after them next to the one before, with the same colour scale, and both energies and
# both terms step by step. It starts at the first tuple of BL's batch from section 2 whose search
# matured, with the preset's λ_div = λ_reg = 0.5. That tuple is typical of BL: its counterfactual x′
# lies far out in a corner, where BL's energy is *lower* than at the real sample x⁺ (div > 0), and
# the ridge term dominates the loss. Things to try in a live notebook:
#
# - `λ_reg` = 0 and 50 `gradient steps`: E(x⁺) keeps falling, div gets ever more negative and the
#   landscape steepens; then raise `λ_reg` again;
# - `λ_div` = 0: the ridge alone pulls both energies towards 0;
# - move x⁺ onto x′ (the `x⁺` sliders): div is 0 and only the ridge is left;
# - `model` = CT: its energies start small, so the ridge has little to do.

# %%
bl_tuple = {k: np.asarray(v) for k, v in tuples["BL"].items()}
j = int(np.flatnonzero(bl_tuple["mature"])[0])  # the first tuple of BL's batch whose search matured
pick = dict(target=int(bl_tuple["target"][j]), x_cf=bl_tuple["x_cf"][j], x_plus=bl_tuple["x_plus"][j])
print(f"tuple {j}: y⁺ = {pick['target']}, x′ = {np.round(pick['x_cf'], 2)}, x⁺ = {np.round(pick['x_plus'], 2)}")
energy_explorer = widgets.EnergyExplorer(models, ds, lambda_div=preset.lambda_div, lambda_reg=preset.lambda_reg,
                                         **pick)
energy_explorer

# %% [markdown]
# Widgets need a running kernel (a notebook viewed without one shows none), so here is also, as a
# plain picture, a second explorer set to
# λ_reg = 0 and 30 steps (the one above stays as you left it), with the numbers before and after.
# Without the ridge, E(x⁺) falls further with every step while E(x′) rises: div gets ever more
# negative, the (now unweighted) ridge grows twentyfold and the landscape steepens around x⁺, the
# one-tuple version of what section 3 showed in training.

# %%
no_ridge_view = widgets.EnergyExplorer(models, ds, lambda_div=preset.lambda_div, lambda_reg=0.0, steps=30, **pick)
display(no_ridge_view.draw())
history = no_ridge_view.current_history
for label, h in (("before", history[0]), ("after 30 steps", history[-1])):
    print(f"{label:>14}: E(x′) {h.e_cf[0]:+.2f}, E(x⁺) {h.e_plus[0]:+.2f}, div {h.div:+.2f}, ridge {h.ridge:.2f}")

# %% [markdown]
# ## 5. Mature and non-mature counterfactuals
#
# A counterfactual is **mature** when its search *reached* p(y⁺ | x′) ≥ τ (`SearchResult.mature`).
# Cut CT's search short at T = 2 steps and some searches end before τ (✕). In training, CT replaces every non-mature x′
# by its own x⁺ (`cftkit.training.replace_non_mature`), so its div contribution is exactly 0: only
# finished counterfactuals teach the model.

# %%
factuals = ds.x_test[:12]
targets = 1 - ev.predict(ct, factuals)
short = cftkit.search(ct, factuals, targets, constraints=ds.constraints.expanded_to(ds.x_test),
                      threshold=preset.threshold, max_steps=2, return_path=True)
print(f"mature: {short.mature.astype(int)}  steps: {short.steps}")
ax = plots.decision_boundary(ct, ds.x_test, ds.y_test, max_points=300, legend=False, title="CT, T = 2")
plots.counterfactual_paths(short, ax=ax, show_nascent=False)
plt.show()

# %%
tup = tuples["BL"]
print(f"maturity of the BL batch of section 2: {np.mean(tup['mature']):.2f}")
replaced = np.all(np.asarray(tup["x_cf"]) == np.asarray(tup["x_plus"]), axis=1)
print(f"tuples whose x′ equals x⁺ (div contribution 0): {replaced.mean():.2f}")

# %% [markdown]
# ### Exercise 2 — Which counterfactuals are mature?
#
# Write `is_mature(model, x_cf, target, threshold)`: `True` for every row whose target probability
# p(y⁺ | x′) = softmax(f(x′))[y⁺] reached τ = `threshold`. Apply it to the short search `short` above with
# τ = `preset.threshold` and compare with `short.mature`. Why is this not the same as *valid*?
#
# Your code goes in the next cell; the cell after it checks your answer: ✓ when it is right,
# otherwise a message that says what to fix. Stuck? `ex.mature_by_hand.hint()` gives a hint,
# `ex.mature_by_hand.solution()` shows a solution.

# %% nbgrader={"grade": false, "grade_id": "mature_by_hand", "locked": false, "schema_version": 3, "solution": true, "task": false}
def is_mature(model, x_cf, target, threshold):
    """True where p(y⁺ | x′) = softmax(f(x′))[y⁺] ≥ τ, for every row of x_cf."""
    ### BEGIN SOLUTION
    p = keras.ops.convert_to_numpy(keras.ops.softmax(ev.predict_logits(model, x_cf)))
    return p[np.arange(len(p)), np.asarray(target)] >= threshold
    ### END SOLUTION


mature_by_hand = is_mature(ct, short.counterfactual, short.target, preset.threshold)
print("by hand:", mature_by_hand.astype(int), "  search:", short.mature.astype(int))

# %% nbgrader={"grade": true, "grade_id": "mature_by_hand_test", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ex.mature_by_hand.assert_correct(is_mature, model=ct, result=short, threshold=preset.threshold)  # ✓, or what to fix
### BEGIN HIDDEN TESTS
ex.mature_by_hand.assert_hidden(is_mature, model=ct, result=short, threshold=preset.threshold)
### END HIDDEN TESTS

# %% [markdown]
# ## What to try next
#
# - Train with λ_reg = 0.05 and 2.0: where is the trade-off between plausibility and accuracy?
# - Train with `objective="energy"` (div + ridge only, no adversarial term) and compare its energy
#   landscape with `"full"`.
# - Open the `SearchExplorer` of lesson 01 on `ct` with the *energy* background: the search walks
#   downhill in this landscape.
# - **04 · Nascent counterfactuals** explains the fourth term, adv.
