"""Build lessons 00–04 (instructor versions) with nbformat and, with ``--execute``, run them in place.

Usage (from the repository root)::

    python notebooks/_src/build_00_04.py             # write the five .ipynb files (no outputs)
    python notebooks/_src/build_00_04.py --execute   # ... and execute them with nbclient, saving outputs
    python notebooks/_src/build_00_04.py --execute 00 03   # only some lessons

Conventions (engineering_notes §3, field_notes §2): the first code cell sets the TF environment before
anything imports TensorFlow; the second imports and calls ``cftkit.seed_everything(0, threads=2)``;
training uses ``verbose=0``; printed numbers are rounded; plotting cells end with ``plt.show()``;
widgets show a stable ``text/plain`` repr.  Every exercise is a markdown prompt followed by a code
cell tagged ``solution`` that later cells never depend on (a student copy replaces it with a stub).
Execute without ``MPLBACKEND`` in the environment (the inline backend must emit figures).
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
NB_DIR = HERE.parent


def md(text: str):
    return new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(src: str, *tags: str):
    cell = new_code_cell(textwrap.dedent(src).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def solution(src: str):
    return code(src, "solution")


ENV = code('''
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow reads both variables when it is imported,
    _ = os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # so they come before anything imports it
''')

IMPORTS = '''
    import logging

    import keras
    import matplotlib.pyplot as plt
    import numpy as np

    import cftkit
    from cftkit import evaluation as ev, plots, widgets

    cftkit.seed_everything(0, threads=2)  # Python, NumPy, TF and Keras seeds; 2 threads give the same numbers everywhere
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # no "tf.function retracing" notes: cftkit traces one
                                                             # search graph per model and setting, on purpose
'''

TRAIN_HELPER = '''
    ADAM_LR = 10 * preset.learning_rate  # 10x the paper's Adam step: seconds of training instead of minutes


    def train(objective, epochs={epochs}, **changes):
        """The paper's MLP (one hidden layer of 32 ReLUs), trained with `objective` on (x_train, y_train)."""
        model = cftkit.CounterfactualModel(cftkit.build_classifier(2, 2, seed=0), constraints=ds.constraints,
                                           **preset.replace(**changes).model_kwargs(objective))
        model.compile(optimizer=keras.optimizers.Adam(ADAM_LR, epsilon=preset.adam_epsilon), metrics=["accuracy"],
                      steps_per_execution=20)
        return model, model.fit(x_train, y_train, batch_size=preset.batch_size, epochs=epochs, shuffle=False, verbose=0)
'''


def train_helper(epochs: int):
    return code(TRAIN_HELPER.replace("{epochs}", str(epochs)))


def notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


# =============================================================================================== 00
def nb00():
    return notebook([
        md('''
        # 00 · Start here: counterfactual training in ten minutes

        A **counterfactual explanation** answers *"what would have to change for the model to decide
        differently?"*: starting from a factual input x, a gradient search moves it until the model
        predicts the target class y⁺. The result x′ is only useful if it is **plausible** (it looks like
        real data of class y⁺) and **actionable** (it changes only what may change).

        **Counterfactual training (CT)** (Altmeyer et al., IEEE SaTML 2026) trains a classifier *against its
        own counterfactuals*: during training it searches counterfactuals on the fly and adds loss terms
        that make them look like real target-class data. This notebook tells the whole story once, on a
        toy dataset; lessons 01–04 take each piece apart.

        **Learning goals**
        - train the same network normally (the baseline, **BL**) and with **CT** using `cftkit`;
        - search and draw counterfactuals for both models;
        - measure plausibility with **implausibility (IP)**, the mean distance from a counterfactual to
          real data of its target class, and see that CT's counterfactuals are more plausible.
        '''),
        ENV,
        code(IMPORTS),
        md('''
        ## 1. The data: two circles

        The paper's *circles* dataset: class 0 is a small blob in the middle, class 1 a noisy ring around
        it. `cftkit.presets.get` returns the paper's hyperparameters for it. To keep this notebook fast we
        train on 1 200 of the 3 000 training points and search 400 counterfactuals per epoch (the paper: 1 000).
        '''),
        code('''
        ds = cftkit.datasets.load("circles")
        preset = cftkit.presets.get("circles").replace(n_ce=400)
        x_train, y_train = ds.x_train[:1200], ds.y_train[:1200]
        print(ds)
        print(f"preset: batch {preset.batch_size}, τ = {preset.threshold}, T = {preset.max_steps} search steps, "
              f"λ_div = {preset.lambda_div}, λ_reg = {preset.lambda_reg}, λ_adv = {preset.lambda_adv}")
        '''),
        code('''
        fig, ax = plt.subplots(figsize=(4.4, 4.2))
        for k, color in enumerate(plots.class_colors(2)):
            ax.scatter(*x_train[y_train == k].T, s=6, color=color, label=f"class {k}")
        ax.set(xlabel="x1", ylabel="x2", title="circles (training subset)", aspect="equal")
        ax.legend(loc="upper right")
        plt.show()
        '''),
        md('''
        ## 2. Two models: BL and CT

        Both models are the paper's MLP wrapped in `cftkit.CounterfactualModel`; only the **objective**
        differs:

        - `"vanilla"` (BL): plain cross-entropy;
        - `"full"` (CT): cross-entropy **+** λ_div·div (pull the counterfactuals' energy towards that of
          real target-class samples) **+** λ_reg·ridge (keep the logits small) **+** λ_adv·adv (classify the
          almost-counterfactuals correctly). Lessons 03 and 04 explain these terms.

        The small helper below builds, compiles and fits one model (graph mode with
        `steps_per_execution=20` was faster here than XLA once compile time is counted).
        '''),
        train_helper(40),
        code('''
        bl, bl_history = train("vanilla")
        ct, ct_history = train("full")
        models = {"BL": bl, "CT": ct}
        for name, model in models.items():
            print(f"{name}: test accuracy {ev.accuracy(model, ds.x_test, ds.y_test):.3f}")
        '''),
        md('''
        Both models classify almost perfectly. CT's `History` also records the counterfactual side of
        every epoch: its loss terms, how many counterfactuals reached the threshold τ ("maturity") and
        how many search steps they needed.
        '''),
        code('''
        plots.training_history(ct_history)
        plt.show()
        '''),
        md('''
        ## 3. Counterfactuals for both models

        `cftkit.search` runs the gradient search for many factuals at once. We ask each model to flip its
        own prediction (target y⁺ = 1 − prediction) with the paper's test-time settings (ECCCo generator,
        τ = 0.95, no distance penalty), for three points of each class, and keep the paths.
        '''),
        code('''
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
        '''),
        md('''
        Look at the two panels:

        - **BL** is confident almost everywhere, with a thin, steep transition. From most points of the
          blob (class 0) the search cannot even start: all ReLUs are off there, the gradient is exactly zero
          and the factual stays put (✕ on top of ○). From the ring, the steep logits make each step
          overshoot, and the search bounces between the walls of the data domain without reaching τ.
        - **CT** has a smooth probability map. Every search takes a few small steps and ends (★) *among*
          the target class's data: in the blob for ring points and in the ring for blob points.
        '''),
        md('''
        ## 4. Why CT's counterfactuals are more plausible

        **Implausibility** IP(x′, y⁺) is the mean ℓ1 distance from x′ to the real test points of class y⁺
        (`cftkit.evaluation.implausibility`); lower is more plausible. The picture shows it for one
        factual from the ring: each grey line is one of the distances that are averaged.
        '''),
        code('''
        i = 3  # the first factual from the ring (class 1), so y⁺ = 0: the blob
        fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True, layout="constrained")
        for ax, (name, res) in zip(axes, results.items()):
            plots.implausibility_illustration(res.counterfactual[i], ds.x_test[ds.y_test == res.target[i]], ax=ax)
            ax.set_title(f"{name}: {ax.get_title()}")
        plt.show()
        '''),
        md('''
        Now over 250 test points. *Valid* means the model predicts y⁺ for x′ (argmax), the paper's
        validity measure.
        '''),
        code('''
        x_eval = ds.x_test[:250]
        for name, m in models.items():
            targets = 1 - ev.predict(m, x_eval)
            cf = cftkit.search(m, x_eval, targets, **search_kw).counterfactual
            ip = ev.implausibility(cf, targets, ds.x_test, ds.y_test)
            print(f"{name}: valid {ev.validity(m, cf, targets).mean():.2f}, mean IP {ip.mean():.3f}, "
                  f"mean cost ‖x′ − x‖₁ {ev.cost(cf, x_eval).mean():.3f}")
        '''),
        md('''
        CT's counterfactuals are all valid and clearly closer to real target-class data (the paper reports
        a 59 % lower IP on this dataset after full training). Nothing about the *search* changed: the model
        itself now has gradients that lead to plausible places.

        ### Exercise 1 — Does the generator matter?

        The searches above used ECCCo, whose energy term already pulls counterfactuals towards
        low-energy (typical) regions. Repeat the 250-point comparison with `generator="generic"` (plain
        cross-entropy, no energy term) and print valid share and mean IP for BL and CT. Does CT still win?
        '''),
        solution('''
        # solution
        for name, m in models.items():
            targets = 1 - ev.predict(m, x_eval)
            cf = cftkit.search(m, x_eval, targets, generator="generic", **search_kw).counterfactual
            ip = ev.implausibility(cf, targets, ds.x_test, ds.y_test)
            print(f"{name} (generic): valid {ev.validity(m, cf, targets).mean():.2f}, mean IP {ip.mean():.3f}")
        '''),
        md('''
        ### Exercise 2 — A second plausibility measure

        IP compares one counterfactual with the data; **IP\\*** (`ev.ip_star`) compares the *distribution*
        of all counterfactuals for a target with that target's data, using the maximum mean discrepancy
        (MMD). Compute IP\\* per target class for both models' 250 counterfactuals.
        '''),
        solution('''
        # solution
        for name, m in models.items():
            targets = 1 - ev.predict(m, x_eval)
            cf = cftkit.search(m, x_eval, targets, **search_kw).counterfactual
            scores = ev.ip_star(cf, targets, ds.x_test, ds.y_test)
            print(name, {f"y⁺={t}": f"{v:.4f}" for t, v in scores.items()})
        '''),
        md('''
        ## What to try next

        - **01 · Counterfactual search**: step through one search with a widget; Generic vs ECCCo.
        - **02 · Actionability**: domains, immutable and increase-only features.
        - **03 · Energy and divergence**: what the div and ridge terms do, and why the ridge is needed.
        - **04 · Nascent counterfactuals and adversarial robustness**: the ε-ball, FGSM and PGD.
        - Re-run this notebook with `"moons"` instead of `"circles"` (remember the preset), or train longer
          with the paper's own Adam step (`ADAM_LR = preset.learning_rate`, more epochs).
        '''),
    ])


# =============================================================================================== 01
def nb01():
    return notebook([
        md('''
        # 01 · The counterfactual search, step by step

        Every counterfactual in `cftkit` comes from the same loop, written once in TensorFlow and run for
        many factuals at once. Starting at the factual, x₀ = x, each step is

        x_{t+1} = clip( x_t − η ∇ₓ [ CE(f(x_t), y⁺) + λ_cost ‖x_t − x‖₁ + λ_egy φ_t (E(x_t) + r E(x_t)²) ] )

        with E(x) = −f(x)[y⁺] the *energy* (negative target logit) and φ_t a weight that decays over the
        steps. A sample stops as soon as p(y⁺ | x_t) ≥ τ (it is then **mature**) or after T steps.
        *Generic* uses only the first two terms; *ECCCo* adds the energy term.

        **Learning goals**
        - run `cftkit.search` and read a `SearchResult` (`counterfactual`, `mature`, `steps`, `path`);
        - see what η (step size), T (max steps), τ (threshold), λ_cost and λ_egy do, with the
          `SearchExplorer` widget;
        - compare the Generic and ECCCo generators side by side.
        '''),
        ENV,
        code(IMPORTS),
        md('''
        ## 1. A model to explain

        A baseline classifier on the paper's *moons* data (600 training points, 30 short epochs).
        '''),
        code('''
        ds = cftkit.datasets.load("moons")
        preset = cftkit.presets.get("moons")
        x_train, y_train = ds.x_train[:600], ds.y_train[:600]
        '''),
        train_helper(30),
        code('''
        model, _ = train("vanilla")
        print(f"test accuracy {ev.accuracy(model, ds.x_test, ds.y_test):.3f}")
        plots.decision_boundary(model, ds.x_test, ds.y_test, max_points=400, title="BL on moons: p(y = 1 | x)",
                                colorbar=True)
        plt.show()
        '''),
        md('''
        ## 2. One search, one step at a time

        We take one test point, ask for the other class and keep the whole path (`return_path=True`).
        The paper's step size is η = 0.1; this model is so steep that a step that large crosses the
        boundary at once, so we use η = 0.02 to be able to watch. τ = 0.9 asks for a confident
        counterfactual.
        '''),
        code('''
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
        '''),
        code('''
        fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), layout="constrained")
        for ax, upto in zip(axes, (0, 3, None)):
            plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=200, legend=False)
            plots.counterfactual_paths(res, ax=ax, upto=upto, show_nascent=False, legend=upto is None)
            ax.set_title("the whole path" if upto is None else f"after {upto} steps")
        axes[3].plot(probs, "o-")
        axes[3].axhline(0.9, ls="--", color="k", label="τ = 0.9")
        axes[3].set(xlabel="step t", ylabel="p(y⁺ | x_t)", title="probability of the target", ylim=(0, 1))
        axes[3].legend()
        plt.show()
        '''),
        md('''
        ## 3. Explore it yourself: `SearchExplorer`

        Run the cell below in a live notebook. Pick a point (`index`, or *free x/y*), a target and a
        generator, move the sliders for η, T, τ, λ_cost and λ_egy, and press ▶ (or drag `step`) to replay
        the search. *background* switches between the classifier and the energy of the target class.
        Things to try:

        - η = 0.1 (the paper's value): how many steps are left?
        - τ close to 1: where do counterfactuals end now?
        - T = 2: the search is cut short and the counterfactual is **not mature** (✕).
        '''),
        code('''
        explorer = widgets.SearchExplorer(model, ds, index=INDEX, learning_rate=0.02, threshold=0.9)
        explorer
        '''),
        md('''
        Widgets need a running kernel. Here is the picture the explorer draws after we set it from code
        to T = 2 steps and the energy background, so that the saved notebook shows it too.
        '''),
        code('''
        explorer.max_steps.value = 2
        explorer.background.value = "energy"
        display(explorer.draw())
        print(f"steps {explorer.current_result.steps[0]}, mature {explorer.current_result.mature[0]}")
        '''),
        md('''
        ## 4. The threshold τ decides how deep a counterfactual goes

        The search stops at the first state with p(y⁺ | x) ≥ τ, so τ = 0.5 stops right at the decision
        boundary while τ = 0.99 walks well into the target class (and costs more: a longer move).
        '''),
        code('''
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
        '''),
        md('''
        ## 5. Generic vs ECCCo

        ECCCo adds λ_egy·φ_t·(E + r·E²) to the search loss: it prefers points where the target logit is
        high, i.e. regions the model considers typical of y⁺. `SideBySide` runs the same factual through
        both generators (the sliders apply to both panels).
        '''),
        code('''
        side_by_side = widgets.SideBySide(model, ds, generators=("generic", "eccco"), index=INDEX,
                                          learning_rate=0.02, threshold=0.9, energy_weight=20.0)
        side_by_side
        '''),
        md('''
        The same comparison without widgets, for ten factuals, and measured on 200 test points: ECCCo's
        counterfactuals are a little more expensive (longer moves) and a little more plausible (lower IP).
        '''),
        code('''
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
        '''),
        md('''
        ### Exercise — How strong should the energy term be?

        For λ_egy ∈ {0, 5, 20, 50}, search ECCCo counterfactuals for the 200 points `x_eval` (targets
        `t_eval`, η = 0.02, τ = 0.9, `constraints`) and print the mean IP, the mean cost and the share of
        mature counterfactuals. What do you gain and what do you pay as λ_egy grows?
        '''),
        solution('''
        # solution
        for energy_weight in (0.0, 5.0, 20.0, 50.0):
            r = cftkit.search(model, x_eval, t_eval, generator="eccco", constraints=constraints, learning_rate=0.02,
                              threshold=0.9, energy_weight=energy_weight)
            ip = ev.implausibility(r.counterfactual, t_eval, ds.x_test, ds.y_test).mean()
            print(f"λ_egy = {energy_weight:4.0f}: IP {ip:.3f}, cost {ev.cost(r.counterfactual, x_eval).mean():.3f}, "
                  f"mature {r.mature.mean():.2f}")
        '''),
        md('''
        ## What to try next

        - In the explorer, choose *free x/y* and put the factual far outside the data: how does the domain
          (the dashed box of lesson 02) stop the search?
        - Search with `max_steps=0`: what is returned, and why is it not mature?
        - Time `cftkit.search` on all 900 test points at once (`%time`) with and without `jit_compile=True`.
        - **02 · Actionability** adds constraints to the same search.
        '''),
    ])


# =============================================================================================== 02
def nb02():
    return notebook([
        md('''
        # 02 · Actionability: domains and mutability

        A counterfactual that asks someone to become younger, or to move outside any realistic range, is
        useless. `cftkit.Constraints` describes, per feature,

        - a **domain** [lower, upper]: the search projects (clips) every step back into this box;
        - a **mutability**: `"both"`, `"increase"` (only up), `"decrease"` (only down) or `"none"`
          (immutable). The search masks each step Δ accordingly *before* it is taken.

        **Learning goals**
        - build constraints and pass them to `cftkit.search`;
        - see that an immutable feature never changes and an increase-only feature never decreases;
        - explore how constraints reshape counterfactuals with the `ActionabilityExplorer` widget;
        - recognise when a constraint makes a counterfactual impossible.
        '''),
        ENV,
        code(IMPORTS),
        md('''
        ## 1. A model and its domain

        The paper's *linearly separable* data: two Gaussian blobs that differ in **both** features, so
        there are many ways to cross the boundary. The domain is inferred from the training data
        (min/max, or mean ± 2 standard deviations if wider).
        '''),
        code('''
        ds = cftkit.datasets.load("linearly_separable")
        preset = cftkit.presets.get("linearly_separable")
        x_train, y_train = ds.x_train[:600], ds.y_train[:600]
        constraints = ds.constraints.expanded_to(ds.x_test)
        print(constraints.feature_names, constraints.mutability)
        print("lower", np.round(constraints.lower, 2), "upper", np.round(constraints.upper, 2))
        '''),
        train_helper(30),
        code('''
        model, _ = train("vanilla")
        print(f"test accuracy {ev.accuracy(model, ds.x_test, ds.y_test):.3f}")
        '''),
        md('''
        ## 2. Domains: the search stays inside the box

        Ten factuals of class 0 searched twice: with the inferred domain, and with x2 capped at 3.5.
        Under the cap the paths run into the wall and slide along it; `plots.constraint_region` draws the
        box (dashed).
        '''),
        code('''
        factuals = ds.x_test[ds.y_test == 0][:10]
        targets = np.ones(len(factuals), int)
        capped = cftkit.Constraints(lower=constraints.lower, upper=[constraints.upper[0], 3.5],
                                    feature_names=ds.feature_names)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, layout="constrained")
        for ax, (title, c) in zip(axes, {"inferred domain": constraints, "x2 ≤ 3.5": capped}.items()):
            r = cftkit.search(model, factuals, targets, constraints=c, return_path=True)
            plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=300, legend=False, title=title)
            plots.constraint_region(c.lower, c.upper, ax=ax)
            plots.counterfactual_paths(r, ax=ax, legend=False)
            print(f"{title}: max x2 of the counterfactuals {r.counterfactual[:, 1].max():.3f}, mature {r.mature.mean():.2f}")
        plt.show()
        '''),
        md('''
        ## 3. Mutability: immutable and increase-only features

        `with_mutability`/`with_immutable` return modified copies. Below, five factuals of each class
        under three settings. With x1 immutable every path is vertical. With x2 increase-only, the paths
        from class 0 (which go up anyway) are unchanged, while those from class 1 may no longer go down and
        run horizontally instead.
        '''),
        code('''
        factuals = np.r_[ds.x_test[ds.y_test == 0][:5], ds.x_test[ds.y_test == 1][:5]]
        targets = np.r_[np.ones(5, int), np.zeros(5, int)]
        settings = {"both free": constraints,
                    "x1 immutable": constraints.with_immutable(["x1"]),
                    "x2 increase-only": constraints.with_mutability(["x2"], "increase")}
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True, layout="constrained")
        for ax, (title, c) in zip(axes, settings.items()):
            r = cftkit.search(model, factuals, targets, constraints=c, return_path=True)
            plots.decision_boundary(model, ds.x_test, ds.y_test, ax=ax, max_points=300, legend=False, title=title)
            plots.counterfactual_paths(r, ax=ax, legend=False)
        plt.show()
        '''),
        md('''
        Pictures can mislead, so check the promise on every test point, in both directions (class 0 → 1
        and 1 → 0):
        '''),
        code('''
        x_all, t_all = ds.x_test, 1 - ev.predict(model, ds.x_test)
        for title, c in settings.items():
            r = cftkit.search(model, x_all, t_all, constraints=c)
            delta = r.counterfactual - x_all
            print(f"{title:17s}: max |Δx1| {np.abs(delta[:, 0]).max():.3f}, min Δx2 {delta[:, 1].min():+.3f}, "
                  f"mature {r.mature.mean():.2f}")
        '''),
        md('''
        With x1 immutable, |Δx1| is exactly 0 for all 900 counterfactuals; with x2 increase-only, Δx2 is
        never negative. Some counterfactuals become **impossible**: with x1 fixed, a point at the far left
        of class 0 (or the far right of class 1) would have to leave the domain in x2 to cross the
        boundary, so its search stops at the wall without reaching τ (not mature). The next figure shows
        which ones.
        '''),
        code('''
        r = cftkit.search(model, x_all, t_all, constraints=settings["x1 immutable"])
        ax = plots.decision_boundary(model, x_all, ds.y_test, max_points=300, legend=False,
                                     title=f"x1 immutable: {(~r.mature).sum()} searches failed")
        ax.scatter(*x_all[~r.mature].T, s=40, marker="X", color="k", label="not mature")
        ax.legend(loc="lower right")
        plt.show()
        '''),
        md('''
        ## 4. Explore it yourself: `ActionabilityExplorer`

        In a live notebook: choose each feature's mutability, narrow its domain with the range sliders and
        move the factual with the two *factual* sliders (inline images take no clicks). The green region
        is what the factual can reach under the constraints; the summary line says whether the search
        succeeded.
        '''),
        code('''
        explorer = widgets.ActionabilityExplorer(model, ds, index=0)
        explorer
        '''),
        md('''
        The static version, after making x1 immutable from code: the reachable region collapses to a
        vertical line through the factual.
        '''),
        code('''
        explorer.mutability[0].value = "none"
        display(explorer.draw())
        print(f"Δ = {np.round(explorer.current_result.counterfactual[0] - explorer.factual(), 3)}, "
              f"mature {explorer.current_result.mature[0]}")
        '''),
        md('''
        ### Exercise — Decrease-only

        Make **x1 decrease-only** (x2 stays free), search counterfactuals for all test points (`x_all`,
        targets `t_all`) and verify that no counterfactual increases x1. Which direction of change (0 → 1
        or 1 → 0) suffers, and why? Print the share of mature counterfactuals per target class.
        '''),
        solution('''
        # solution
        decrease = constraints.with_mutability(["x1"], "decrease")
        r = cftkit.search(model, x_all, t_all, constraints=decrease)
        print(f"max Δx1 {(r.counterfactual - x_all)[:, 0].max():+.3f}")
        for t in (0, 1):
            print(f"target {t}: mature {r.mature[t_all == t].mean():.2f}")
        '''),
        md('''
        ## What to try next

        - In the explorer, make *both* features immutable: what does the search return?
        - Put a factual outside a narrowed domain with the sliders: the explorer first clips it onto the
          domain (the summary says so). Where do you see the same clipping in `cftkit.search`'s loop?
        - During counterfactual **training**, the same constraints also protect features in the loss
          (`cftkit.training.protect`): lesson 03 shows the loss terms, and the paper's "mutability" runs
          train with protected features.
        '''),
    ])


# =============================================================================================== 03
def nb03():
    return notebook([
        md('''
        # 03 · Energy, contrastive divergence and the ridge

        CT borrows from energy-based models. For a target class y⁺ the **energy** of a point is its negative
        target logit, E(x, y⁺) = −f(x)[y⁺]: low energy means "typical of y⁺" for the model. For a batch of
        counterfactuals x′ᵢ and real target-class samples x⁺ᵢ, CT adds

        - **div** = mean[E(x⁺ᵢ) − E(x′ᵢ)] (contrastive divergence): lower the energy of real samples, raise
          that of counterfactuals, until the model no longer tells them apart;
        - **ridge** = mean[E(x⁺ᵢ)² + E(x′ᵢ)²]: keep energies (logits) small, because div alone is unbounded.

        **Learning goals**
        - draw a classifier's energy landscape and compare BL with CT;
        - compute div and ridge with `cftkit` from a batch of counterfactual tuples;
        - see what happens without the ridge (λ_reg = 0);
        - know what a **mature** counterfactual is and what CT does with the others.
        '''),
        ENV,
        code(IMPORTS),
        code('''
        ds = cftkit.datasets.load("circles")
        preset = cftkit.presets.get("circles").replace(n_ce=200)
        x_train, y_train = ds.x_train[:600], ds.y_train[:600]
        '''),
        train_helper(30),
        code('''
        bl, bl_history = train("vanilla")
        ct, ct_history = train("full")  # λ_reg = 0.5, the paper's value for circles
        models = {"BL": bl, "CT": ct}
        print({name: f"{ev.accuracy(m, ds.x_test, ds.y_test):.3f}" for name, m in models.items()})
        '''),
        md('''
        ## 1. The energy landscape

        `plots.energy_landscape` draws E(x, y⁺ = 1) over the plane (a little beyond the data): where does
        each model find class 1, the ring, "typical"? Both networks are piecewise linear, so their energy
        keeps falling away from the data. But look at the colour bars: BL's energy drops to about −30 in
        the corners, where no data lives, while CT's stays within a few units of zero, close to its value
        on the ring itself.
        '''),
        code('''
        xlim, ylim = plots.data_limits(ds.x_test, padding=1.0)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
        for ax, (name, m) in zip(axes, models.items()):
            plots.energy_landscape(m, 1, xlim, ylim, ax=ax)
            ax.scatter(*ds.x_test[ds.y_test == 1][::3].T, s=5, color="w", alpha=0.7)
            ax.set_title(f"{name}: E(x, y⁺ = 1) (white: class-1 data)")
        plt.show()
        '''),
        md('''
        ## 2. div and ridge, computed by the package

        `CounterfactualModel.generate_counterfactuals` builds the tuples of one training step exactly as
        `train_step` does: a target y⁺ ≠ prediction, a search (ECCCo, T = 30, τ = preset), one real sample
        x⁺ of class y⁺, and the nascent point x_AE (lesson 04). Then `compute_ct_loss` returns the batch
        loss and its terms. The random numbers `u` pick targets and x⁺ (here the same for both models).
        '''),
        code('''
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
        '''),
        md('''
        What do the numbers mean? Training **minimises** div = mean[E(x⁺) − E(x′)], so the model learns to
        give real target samples a lower energy (higher target logit) than its own counterfactuals; the
        search, which walks downhill in energy, is then pushed on towards real data. Alone, div could be
        won by inflating all logits; the ridge (mean squared energy) forbids that.
        `cftkit.training.contrastive_divergence_and_ridge` computes both from the two energy vectors:

        - BL's energies spread over many units (ridge ≈ 38). Only 10 % of its searches matured; the
          others have x′ = x⁺ (section 4), so most of its two histograms coincide.
        - CT's energies all lie within about one unit of zero, the counterfactuals slightly above the
          real samples (div < 0).
        '''),
        code('''
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
        '''),
        md('''
        ## 3. Without the ridge, energies explode

        div can always be lowered further by making real-sample logits larger and counterfactual logits
        smaller, without limit. Train CT again with **λ_reg = 0** and compare. The `History` records
        `ct_reg`, the mean squared energy, even when its weight is 0.
        '''),
        code('''
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
        '''),
        md('''
        Without the ridge the energies grow by orders of magnitude and the div term swings wildly: the
        model is winning the div game by inflating its logits, not by making counterfactuals plausible.

        ## 4. Mature and non-mature counterfactuals

        A counterfactual is **mature** when its search *reached* p(y⁺ | x′) ≥ τ (`SearchResult.mature`).
        Cut CT's search short at T = 2 steps and some searches end before τ (✕). In training, CT replaces every non-mature x′
        by its own x⁺ (`cftkit.training.replace_non_mature`), so its div contribution is exactly 0: only
        finished counterfactuals teach the model.
        '''),
        code('''
        factuals = ds.x_test[:12]
        targets = 1 - ev.predict(ct, factuals)
        short = cftkit.search(ct, factuals, targets, constraints=ds.constraints.expanded_to(ds.x_test),
                              threshold=preset.threshold, max_steps=2, return_path=True)
        print(f"mature: {short.mature.astype(int)}  steps: {short.steps}")
        ax = plots.decision_boundary(ct, ds.x_test, ds.y_test, max_points=300, legend=False, title="CT, T = 2")
        plots.counterfactual_paths(short, ax=ax, show_nascent=False)
        plt.show()
        '''),
        code('''
        tup = tuples["BL"]
        print(f"maturity of the BL batch of section 2: {np.mean(tup['mature']):.2f}")
        replaced = np.all(np.asarray(tup["x_cf"]) == np.asarray(tup["x_plus"]), axis=1)
        print(f"tuples whose x′ equals x⁺ (div contribution 0): {replaced.mean():.2f}")
        '''),
        md('''
        ### Exercise — div and ridge by hand

        Recompute CT's div and ridge for the batch `tuples["CT"]` yourself with NumPy: evaluate
        E(x⁺) = −f(x⁺)[y⁺] and E(x′) = −f(x′)[y⁺] with `ev.predict_logits(ct, ...)`, take the means from
        the definitions above and compare with `terms["CT"]`.
        '''),
        solution('''
        # solution
        tup = tuples["CT"]
        rows = np.arange(n)
        target = np.asarray(tup["target"])
        e_plus = -ev.predict_logits(ct, np.asarray(tup["x_plus"]))[rows, target]
        e_cf = -ev.predict_logits(ct, np.asarray(tup["x_cf"]))[rows, target]
        print(f"div   by hand {np.mean(e_plus - e_cf):.3f}   package {terms['CT']['div']:.3f}")
        print(f"ridge by hand {np.mean(e_plus**2 + e_cf**2):.3f}   package {terms['CT']['reg']:.3f}")
        '''),
        md('''
        ## What to try next

        - Train with λ_reg = 0.05 and 2.0: where is the trade-off between plausibility and accuracy?
        - Train with `objective="energy"` (div + ridge only, no adversarial term) and compare its energy
          landscape with `"full"`.
        - Open the `SearchExplorer` of lesson 01 on `ct` with the *energy* background: the search walks
          downhill in this landscape.
        - **04 · Nascent counterfactuals** explains the fourth term, adv.
        '''),
    ])


# =============================================================================================== 04
def nb04():
    return notebook([
        md('''
        # 04 · Nascent counterfactuals are adversarial examples

        A counterfactual search and an adversarial attack do the same thing: push an input towards another
        class with gradients. The difference is the size of the push. Early in a search the state is
        still within a small **ε-ball** around the factual; the last such state is the **nascent
        counterfactual**. CT uses it as an adversarial example, with the factual's *true* label, in its
        fourth loss term (adv), which should make the model more robust as a by-product.

        **Learning goals**
        - draw the L∞ ε-ball and find the nascent counterfactual on a search path (`SearchResult.nascent`);
        - see that nascent counterfactuals move the prediction towards y⁺ without (usually) crossing;
        - attack BL and CT with FGSM and PGD and compare robust accuracy.
        '''),
        ENV,
        code(IMPORTS),
        code('''
        ds = cftkit.datasets.load("moons")
        preset = cftkit.presets.get("moons").replace(n_ce=200)
        x_train, y_train = ds.x_train[:600], ds.y_train[:600]
        '''),
        train_helper(30),
        code('''
        bl, _ = train("vanilla")
        ct, ct_history = train("full")
        models = {"BL": bl, "CT": ct}
        print({name: f"{ev.accuracy(m, ds.x_test, ds.y_test):.3f}" for name, m in models.items()})
        '''),
        md('''
        ## 1. The ε-ball and the nascent counterfactual

        CT's ε is `preset.adversarial_epsilon` = 0.3 in the L∞ norm: a square of half-width 0.3 around each
        factual. `plots.counterfactual_paths(..., epsilon=0.3)` draws it; the purple diamond is the last
        state of the path inside it. (η = 0.02 again, so the paths have several states.)
        '''),
        code('''
        EPS = preset.adversarial_epsilon
        constraints = ds.constraints.expanded_to(ds.x_test)
        factuals = ds.x_test[:6]
        targets = 1 - ev.predict(bl, factuals)
        res = cftkit.search(bl, factuals, targets, constraints=constraints, learning_rate=0.02, threshold=0.9,
                            nascent_epsilon=EPS, return_path=True)
        ax = plots.decision_boundary(bl, ds.x_test, ds.y_test, max_points=300, legend=False, title=f"BL, ε = {EPS}")
        plots.counterfactual_paths(res, ax=ax, epsilon=EPS)
        plt.show()
        print("‖nascent − factual‖∞:", np.round(np.abs(res.nascent - factuals).max(axis=1), 3))
        '''),
        md('''
        ## 2. What the nascent counterfactual does to the prediction

        For each factual: the model's probability of the target class at the factual, at the nascent
        counterfactual (at most ε away) and at the final counterfactual, on a **log scale**. Within the
        ball, p(y⁺) already grows by orders of magnitude while the prediction does not flip yet: the
        nascent point marks a direction in which the model is fragile, i.e. an adversarial direction for
        the true label. CT adds CE(f(x_AE), y) to its loss, which teaches the model to keep the true label
        there. (For factuals 3–5 the very first step already leaves the ball, so their nascent
        counterfactual is the factual itself.)
        '''),
        code('''
        stages = {"factual": factuals, "nascent": res.nascent, "counterfactual": res.counterfactual}
        rows = np.arange(len(factuals))
        p = {k: np.asarray(keras.ops.softmax(ev.predict_logits(bl, v)))[rows, targets] for k, v in stages.items()}
        fig, ax = plt.subplots(figsize=(6.5, 3.4))
        for j, (k, v) in enumerate(p.items()):
            ax.bar(rows + (j - 1) * 0.27, v, width=0.27, label=k)
        ax.axhline(0.5, ls="--", color="k", lw=0.8)
        ax.set(xlabel="factual", ylabel="p(y⁺ | ·)", yscale="log", title="BL: probability of the target class")
        ax.legend(fontsize="small")
        plt.show()
        '''),
        md('''
        With the paper's step η = 0.1 a steep model often jumps out of the ε-ball in the first step; then
        the nascent counterfactual is the factual itself and the adv term just repeats the clean loss. The
        share of nascent points that moved at all, for both models:
        '''),
        code('''
        x_eval = ds.x_test[:300]
        for name, m in models.items():
            t_eval = 1 - ev.predict(m, x_eval)
            for eta in (0.1, 0.02):
                r = cftkit.search(m, x_eval, t_eval, constraints=constraints, learning_rate=eta,
                                  threshold=preset.threshold)
                moved = np.abs(r.nascent - x_eval).max(axis=1) > 0
                print(f"{name}, η = {eta}: nascent moved for {moved.mean():.2f}, "
                      f"already in the target class {ev.validity(m, r.nascent, t_eval).mean():.2f}")
        '''),
        md('''
        ## 3. Attacks: FGSM and PGD

        An attack looks for the worst point inside the ε-ball for the **true** label:

        - **FGSM** takes one step of size ε along the sign of the loss gradient;
        - **PGD** starts at a random point of the ball and takes many small sign steps, projecting back
          into the ball after each (40 steps of 0.01 in the paper).

        The arrows show FGSM with ε = 0.2 on BL: points near the boundary are pushed across it.
        '''),
        code('''
        x_few, y_few = ds.x_test[:40], ds.y_test[:40]
        adv = ev.fgsm(bl, x_few, y_few, 0.2)
        flipped = ev.predict(bl, adv) != y_few
        ax = plots.decision_boundary(bl, ds.x_test, ds.y_test, max_points=300, legend=False,
                                     title=f"FGSM, ε = 0.2: {flipped.sum()} of {len(x_few)} points flipped")
        ax.quiver(*x_few.T, *(adv - x_few).T, angles="xy", scale_units="xy", scale=1,
                  color=np.where(flipped, "k", "0.6"), width=0.004)
        plt.show()
        '''),
        md('''
        ## 4. Robust accuracy: BL vs CT

        `ev.robust_accuracy` attacks every test point at every ε and reports the accuracy that remains
        (ε = 0 is the clean accuracy). We use ε up to 0.3, the radius CT trained with.
        '''),
        code('''
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
        '''),
        md('''
        CT keeps more of its accuracy as ε grows, although it never saw an attack during training, only
        its own nascent counterfactuals. (After 30 short epochs on 600 points the gap is modest; the
        paper's Figure 4 shows it after full training on every dataset.)

        ### Exercise — The paper's ε grid

        The paper reports robust accuracy on the grid `cftkit.defaults.ROBUST_EPSILONS` (0 to 0.1). Compute
        PGD robust accuracy for BL and CT on `x_test, y_test` with that grid and draw both curves in one
        plot with `plots.robust_accuracy_curves`. Is the difference visible at such small ε?
        '''),
        solution('''
        # solution
        paper_grid = cftkit.defaults.ROBUST_EPSILONS
        paper_curves = {name: ev.robust_accuracy(m, x_test, y_test, paper_grid, attack="pgd") for name, m in models.items()}
        plots.robust_accuracy_curves(paper_curves, title="PGD on the paper's ε grid", ylim=(0.8, 1.01))
        plt.show()
        for name, r in paper_curves.items():
            print(f"{name}: " + "  ".join(f"{a:.3f}" for a in r["accuracy"]))
        '''),
        md('''
        ## What to try next

        - Train CT with `objective="adversarial"` (adv term only) and with `"energy"` (no adv term): which
          one buys the robustness?
        - Change `adversarial_epsilon` (e.g. `train("full", adversarial_epsilon=0.1)`) and re-draw the curves.
        - Attack with PGD on the *circles* data: is CT more robust there too?
        - Back to **00 · Start here** for the big picture, or `cftkit reproduce --dataset moons --quick` for
          the paper's full protocol.
        '''),
    ])


BUILDERS = {"00": ("00_start_here.ipynb", nb00), "01": ("01_counterfactual_search.ipynb", nb01),
            "02": ("02_actionability.ipynb", nb02), "03": ("03_energy_and_divergence.ipynb", nb03),
            "04": ("04_nascent_adversarial.ipynb", nb04)}


def execute(path: Path) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}).execute()
    wall = time.perf_counter() - t0
    nbformat.write(nb, path)
    return wall


def main(argv):
    run = "--execute" in argv
    which = [a for a in argv if not a.startswith("--")] or list(BUILDERS)
    if run:
        if "MPLBACKEND" in os.environ:
            sys.exit("unset MPLBACKEND: the inline backend must emit the figures")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    for key in which:
        name, build = BUILDERS[key]
        path = NB_DIR / name
        nb = build()
        nbformat.validate(nb)
        nbformat.write(nb, path)
        msg = f"wrote {path.name}"
        if run:
            msg += f", executed in {execute(path):.1f} s"
        print(msg, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
