"""The lessons' exercises: their checks (``cftkit.exercises``), their nbgrader cells in the lesson sources,
the student copies nbgrader makes of them, and the Colab install cell every lesson starts with.

* For every exercise, on small lesson objects built here (tiny data, small models trained for a few
  epochs, short searches): the instructor's solution (``ex.solution_code``, executed in a namespace that
  holds the lesson's variables) passes the visible and the hidden checks; the student's stub (a function
  that raises ``NotImplementedError``, a value left undefined) fails with a message that says what to do;
  a typical wrong answer fails with the specific hint the check has for that mistake.
* Every exercise has its solution cell and its locked test cell in its lesson's source, and the solution
  cell holds ``ex.solution_code``.
* nbgrader's student versions of all lessons: solutions stubbed, hidden tests dropped, equal to the
  committed ``notebooks/student/`` copies; one lesson autograded end to end (slow).
* The Colab install cell's branches, offline; the student copies name no instructor-only material.

Speed (two CPU cores): the lesson objects are built once per module (two circles models shared by most
lessons, one more CT model for lesson 05's fine-tune, one short evaluation protocol shared by lessons 06
and 07, a 784-pixel linear model for lesson 07's frame); the stored results stand in for lesson 08's run.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import types
from typing import Callable, NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cftkit  # noqa: E402
from cftkit import evaluation as ev, exercises, experiments, keras, plots, tf  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SRC = NOTEBOOKS / "src"
STUDENT = NOTEBOOKS / "student"
EXERCISES = exercises.all_exercises()
BY_NAME = {ex.name: ex for ex in EXERCISES}
LESSON_NAMES = sorted(p.stem for p in SRC.glob("[0-9][0-9]_*.py"))
STUDENT_FILES = sorted(STUDENT.glob("*.ipynb"))
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def _ids(ex):
    return f"{ex.lesson}-{ex.name}"


def _load_build():
    spec = importlib.util.spec_from_file_location("cftkit_notebook_build", NOTEBOOKS / "_tools" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source(lesson: str) -> pathlib.Path:
    (path,) = SRC.glob(f"{lesson}_*.py")
    return path


def _source_cells(lesson: str):
    import jupytext

    return jupytext.read(_source(lesson)).cells


def _lines(text: str) -> list:
    """Code lines modulo whitespace: no blank lines, no trailing blanks."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


# ============================================================================== the lessons' objects
ADAM_LR = 0.03  # 3x lesson 05's step: 15 short epochs give confident models on 160 points
EPS = 0.3  # preset.adversarial_epsilon (lesson 04)


class World:
    """Small versions of the lessons' objects, built on first use and shared by the tests of the module."""

    def __init__(self):
        cftkit.seed_everything(0)
        self.ds = cftkit.datasets.load_synthetic("circles", n_generated=500, n_pool=200, n_val=40, n_test=200)
        self.preset = cftkit.presets.get("circles").replace(n_ce=40, learning_rate=ADAM_LR)
        self.domain = self.ds.constraints.expanded_to(self.ds.x_test)
        self.bl, _ = self.fit("vanilla", self.ds.x_train, self.ds.y_train, 15)
        self.ct, _ = self.fit("full", self.ds.x_train, self.ds.y_train, 15)
        self.models = {"BL": self.bl, "CT": self.ct}
        self._namespaces: dict = {}
        self._solved: dict = {}

    def fit(self, objective, x, y, epochs):
        """The lessons' ``train``: the paper's MLP wrapped in a CounterfactualModel, fitted on (x, y)."""
        model = cftkit.CounterfactualModel(cftkit.build_classifier(2, 2, seed=0), constraints=self.ds.constraints,
                                           seed=0, **self.preset.model_kwargs(objective))
        model.compile(optimizer=keras.optimizers.Adam(self.preset.learning_rate, epsilon=self.preset.adam_epsilon),
                      metrics=["accuracy"], jit_compile=False, steps_per_execution=10)
        history = model.fit(x, y, batch_size=self.preset.batch_size, epochs=epochs, shuffle=False, verbose=0)
        return model, history

    # ------------------------------------------------------------------------------ per lesson
    def namespace(self, lesson: str) -> dict:
        """The lesson's variables before its exercises (a fresh copy of the dict for every exercise)."""
        if lesson not in self._namespaces:
            base = dict(np=np, keras=keras, tf=tf, plt=plt, cftkit=cftkit, ev=ev, plots=plots,
                        experiments=experiments)
            base.update(getattr(self, f"_lesson{lesson}")())
            self._namespaces[lesson] = base
        return dict(self._namespaces[lesson])

    def solved(self, ex) -> dict:
        """The lesson's namespace after the instructor's solution of ``ex`` ran in it (once per exercise)."""
        if ex.name not in self._solved:
            ns = self.namespace(ex.lesson)
            exec(compile(ex.solution_code, f"<solution of {ex.name}>", "exec"), ns)  # noqa: S102
            plt.close("all")
            self._solved[ex.name] = ns
        return self._solved[ex.name]

    def _lesson00(self):
        ds = self.ds
        idx = np.r_[np.flatnonzero(ds.y_test == 0)[:3], np.flatnonzero(ds.y_test == 1)[:3]]
        factuals = ds.x_test[idx]
        search_kw = dict(constraints=self.domain, threshold=0.95, cost_weight=0.0, energy_weight=1.0)
        results = {name: cftkit.search(m, factuals, 1 - ev.predict(m, factuals), return_path=True, **search_kw)
                   for name, m in self.models.items()}
        return dict(ds=ds, models=self.models, results=results, i=3, x_eval=ds.x_test[:30], search_kw=search_kw)

    def _lesson01(self):
        ds, model = self.ds, self.ct
        x0 = ds.x_test[[1]]
        x_eval = ds.x_test[:30]
        return dict(ds=ds, model=model, constraints=self.domain, x0=x0, target=1 - ev.predict(model, x0),
                    x_eval=x_eval, t_eval=1 - ev.predict(model, x_eval))

    def _lesson02(self):
        ds, model = self.ds, self.ct
        constraints = self.domain
        settings = {"both free": constraints,
                    "x1 immutable": constraints.with_immutable(["x1"]),
                    "x2 increase-only": constraints.with_mutability(["x2"], "increase")}
        x_all = ds.x_test[:60]
        return dict(ds=ds, model=model, constraints=constraints, settings=settings, x_all=x_all,
                    t_all=1 - ev.predict(model, x_all))

    def _lesson03(self):
        ds, ct = self.ds, self.ct
        n = 20
        xb, yb = ds.x_train[:n], ds.y_train[:n]
        u = np.random.default_rng(0).uniform(size=(2, n)).astype("float32")
        tuples = {"CT": ct.generate_counterfactuals(xb, yb, u[0], u[1])}
        batch = dict(tuples["CT"], weight=np.ones(n, "float32"))
        _, t, _ = ct.compute_ct_loss(xb, yb, batch, float(n), training=False)
        preset = self.preset  # τ = 0.5: with two classes valid and mature coincide at τ, the check asks at 0.9 too
        factuals = ds.x_test[:12]
        short = cftkit.search(ct, factuals, 1 - ev.predict(ct, factuals), constraints=self.domain,
                              threshold=preset.threshold, max_steps=2, return_path=True)
        p = short.probability
        assert preset.threshold == 0.5 and ((p >= 0.5) & (p < 0.9)).any(), "valid counterfactuals with p < 0.9 needed"
        return dict(ds=ds, ct=ct, tuples=tuples, terms={"CT": {k: float(v) for k, v in t.items()}}, preset=preset,
                    short=short)

    def _lesson04(self):
        ds, bl = self.ds, self.bl
        factuals = ds.x_test[:6]
        res = cftkit.search(bl, factuals, 1 - ev.predict(bl, factuals), constraints=self.domain, learning_rate=0.02,
                            threshold=0.9, nascent_epsilon=EPS, return_path=True)
        return dict(ds=ds, models=self.models, res=res, factuals=factuals, EPS=EPS, x_test=ds.x_test[:40],
                    y_test=ds.y_test[:40])

    def _lesson05(self):
        from cftkit import widgets

        ds = self.ds
        x, y = ds.x_train[:60], ds.y_train[:60]
        ct, history = self.fit("full", x, y, 2)  # its own model: the fine-tune changes it
        demo = widgets.CTTrainer(ct, (x, y), batch_size=self.preset.batch_size, epochs=5, every=5, resolution=8,
                                 fit_kwargs={"shuffle": False})
        return dict(ds=ds, ct=ct, history=history, preset=self.preset, demo=demo)

    def protocol(self):
        if not hasattr(self, "_protocol"):
            self._protocol = ev.evaluate_counterfactuals({"CT": self.ct, "BL": self.bl}, self.ds, n_runs=10,
                                                         n_individuals=3, jit_compile=False)
        return self._protocol

    def _lesson06(self):
        ds = self.ds
        x0 = ds.x_test[ds.y_test == 0][:8]
        found = {"CT": cftkit.search(self.ct, x0, np.ones(len(x0), int), constraints=self.domain, threshold=0.95,
                                     max_steps=50, cost_weight=0.0, energy_weight=1.0, return_path=True)}
        return dict(ds=ds, res=self.protocol(), found=found)

    def _lesson07(self):
        side = 28
        d = side * side
        rows = [side * r + c for r in (*range(5), *range(side - 5, side)) for c in range(side)]
        mn_protected = types.SimpleNamespace(
            constraints=cftkit.Constraints(lower=-np.ones(d), upper=np.ones(d)).with_immutable(rows))
        keras.utils.set_random_seed(7)
        mn_ct = keras.Sequential([keras.Input((d,)), keras.layers.Dense(10)])
        x = np.random.default_rng(7).uniform(-1, 1, size=(6, d)).astype(np.float32)
        return dict(ch=self.ds, ch_res=self.protocol(), mn_protected=mn_protected, mn_ct=mn_ct, x=x,
                    targets=(ev.predict(mn_ct, x) + 1) % 10)

    def _lesson08(self):
        stored = {name: experiments.stored_results(name) for name in experiments.stored_datasets()}
        cells = [(name, c) for name, r in stored.items() for c in experiments.paper_comparison(r)["metrics"].values()]
        return dict(stored=stored, cells=cells, result=stored["circles"])  # laid out like reproduce's result


@pytest.fixture(scope="module")
def world():
    return World()


# ================================================================================ per exercise
class Spec(NamedTuple):
    context: Callable  # ns -> the check's keyword arguments (as the lesson's test cell passes them)
    wrong: tuple  # ((label, ns -> answers, phrase of the check's hint for that mistake[, "hidden"]), ...)


def _stub(*args, **kwargs):
    raise NotImplementedError()


def _l2_mean(cf, points):
    return float(np.linalg.norm(points - cf, axis=1).mean())


def _eccco_instead_of_generic(ns):
    valid, ip = {}, {}
    for name, m in ns["models"].items():
        targets = 1 - ev.predict(m, ns["x_eval"])
        cf = cftkit.search(m, ns["x_eval"], targets, **ns["search_kw"]).counterfactual  # no generator="generic"
        valid[name] = float(ev.validity(m, cf, targets).mean())
        ip[name] = float(ev.implausibility(cf, targets, ns["ds"].x_test, ns["ds"].y_test).mean())
    return valid, ip


def _uphill_step(model, x, target, learning_rate):
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=model(x)))
    return (x + learning_rate * tape.gradient(loss, x)).numpy()


def _sweep_with_l2_cost(ns):
    sweep = {}
    for w in (0.0, 5.0, 20.0, 50.0):
        r = cftkit.search(ns["model"], ns["x_eval"], ns["t_eval"], generator="eccco", constraints=ns["constraints"],
                          learning_rate=0.02, threshold=0.9, energy_weight=w)
        ip = ev.implausibility(r.counterfactual, ns["t_eval"], ns["ds"].x_test, ns["ds"].y_test)
        sweep[w] = {"ip": float(ip.mean()),
                    "cost": float(np.linalg.norm(r.counterfactual - ns["x_eval"], axis=1).mean()),
                    "mature": float(r.mature.mean())}
    return (sweep,)


def _swapped_mask(delta, mutability):
    delta = np.array(delta, dtype=float)
    for j, m in enumerate(mutability):
        if m == "increase":
            delta[:, j] = np.minimum(delta[:, j], 0.0)
        elif m == "decrease":
            delta[:, j] = np.maximum(delta[:, j], 0.0)
        elif m == "none":
            delta[:, j] = 0.0
    return delta


def _mask_moving_immutable(delta, mutability):
    delta = np.array(delta, dtype=float)
    for j, m in enumerate(mutability):
        if m == "increase":
            delta[:, j] = np.maximum(delta[:, j], 0.0)
        elif m == "decrease":
            delta[:, j] = np.minimum(delta[:, j], 0.0)
    return delta


def _validity_not_maturity(model, x_cf, target, threshold):
    return np.argmax(ev.predict_logits(model, x_cf), axis=1) == np.asarray(target)


def _l2_nascent(path, factual, epsilon):
    inside = np.linalg.norm(path - factual, axis=1) <= epsilon
    return path[np.flatnonzero(inside)[-1]]


def _unweighted_loss(logs, lambdas):
    return logs["ct_clf"] + logs["ct_div"] + logs["ct_reg"] + logs["ct_adv"]


def _percent_as_fraction(delta, alpha=0.01):
    lo, hi = np.percentile(delta, [alpha / 2, 1 - alpha / 2])  # np.percentile wants percent
    return bool(lo > 0 or hi < 0), float(lo), float(hi)


def _biased_mmd2(a, b, length_scale):
    def k(u, v):
        return np.exp(-((u[:, None, :] - v[None, :, :]) ** 2).sum(-1) / (2 * length_scale**2))

    return float(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())


def _signed_change(ns):
    res = ns["ch_res"]
    change = res.counterfactuals - res.factuals  # no np.abs
    mean_change, top = {}, {}
    for name in ("BL", "CT"):
        rows = (res.records["model"] == name) & res.records["valid"]
        mean_change[name] = change[rows].mean(axis=0)
        top[name] = ns["ch"].feature_names[int(np.argmax(mean_change[name]))]
    return mean_change, top


def _ip_of_other_class(ns, name):
    res, i, ds = ns["results"][name], ns["i"], ns["ds"]
    return ns["mean_l1"](res.counterfactual[i], ds.x_test[ds.y_test != res.target[i]])


def _within_signed_paper(ours, paper, tolerance=0.5):
    return bool(abs(ours - paper) <= tolerance * paper)


def _within_absolute(ours, paper, tolerance=0.5):
    return bool(abs(ours - paper) <= tolerance)


def _within_strict(ours, paper, tolerance=0.5):
    return bool(abs(ours - paper) < tolerance * abs(paper))


def _step_without_learning_rate(model, x, target, learning_rate):
    return _uphill_step(model, x, target, -1.0)


def _plus_logit(model, x, target):
    return ev.predict_logits(model, np.asarray(x))[np.arange(len(x)), np.asarray(target)]


def _maturity_inverted(model, x_cf, target, threshold):
    p = keras.ops.convert_to_numpy(keras.ops.softmax(ev.predict_logits(model, x_cf)))
    return p[np.arange(len(p)), np.asarray(target)] < threshold


def _path_end(path, factual, epsilon):
    return path[-1]


def _subtracted_div(logs, lambdas):
    return (lambdas["lambda_clf"] * logs["ct_clf"] - lambdas["lambda_div"] * logs["ct_div"]
            + lambdas["lambda_reg"] * logs["ct_reg"] + lambdas["lambda_adv"] * logs["ct_adv"])


def _significance_inverted(delta, alpha=0.01):
    lo, hi = np.quantile(delta, [alpha / 2, 1 - alpha / 2])
    return bool(lo <= 0 <= hi), float(lo), float(hi)


def _mmd2_cross_added(a, b, length_scale):
    def k(u, v):
        return np.exp(-((u[:, None, :] - v[None, :, :]) ** 2).sum(-1) / (2 * length_scale**2))

    m, n = len(a), len(b)
    kaa, kbb = k(a, a), k(b, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 + 2 * k(a, b).mean())


SPECS = {
    "ip_by_hand": Spec(
        lambda ns: dict(results=ns["results"], dataset=ns["ds"], i=ns["i"]),
        (("l2 distance", lambda ns: (_l2_mean, ns["ip_bl"], ns["ip_ct"]), "uses the Euclidean (ℓ2) distance"),
         ("factual's class", lambda ns: (ns["mean_l1"], _ip_of_other_class(ns, "BL"), ns["ip_ct"]),
          "is measured against the factual's class"))),
    "generic_search": Spec(
        lambda ns: dict(models=ns["models"], x_eval=ns["x_eval"], dataset=ns["ds"], search_kw=ns["search_kw"]),
        (("ECCCo instead of Generic", _eccco_instead_of_generic, "is the ECCCo result"),)),
    "first_step": Spec(
        lambda ns: dict(model=ns["model"], x=ns["x0"], target=ns["target"]),
        (("wrong sign", lambda ns: (_uphill_step,), "moves uphill"),
         ("no learning rate", lambda ns: (_step_without_learning_rate,), "ignores the learning rate"),)),
    "energy_sweep": Spec(
        lambda ns: dict(model=ns["model"], x=ns["x_eval"], targets=ns["t_eval"], dataset=ns["ds"],
                        constraints=ns["constraints"]),
        (("l2 cost", _sweep_with_l2_cost, "uses the ℓ2 distance"),
         ("count, not share", lambda ns: ({w: dict(s, mature=s["mature"] * len(ns["x_eval"]))
                                           for w, s in ns["sweep"].items()},),
          "counts the mature counterfactuals; give the share"),)),
    "mask_step": Spec(
        lambda ns: dict(settings=ns["settings"]),
        (("increase/decrease swapped", lambda ns: (_swapped_mask,), 'swaps "increase" and "decrease"'),
         ("immutable moves", lambda ns: (_mask_moving_immutable,), 'lets an immutable feature ("none") move'))),
    "decrease_only": Spec(
        lambda ns: dict(model=ns["model"], x=ns["x_all"], targets=ns["t_all"], constraints=ns["constraints"]),
        (("largest |Δ|", lambda ns: (float(np.abs(ns["r"].counterfactual - ns["x_all"])[:, 0].max()),
                                     ns["mature_by_target"]), "is the largest |Δx1|"),
         ("count, not share", lambda ns: (ns["max_dx1"], {t: float(ns["r"].mature[ns["t_all"] == t].sum())
                                                           for t in (0, 1)}),
          "counts mature counterfactuals; give the share"))),
    "div_by_hand": Spec(
        lambda ns: dict(model=ns["ct"], batch=ns["tuples"]["CT"]),
        (("ridge not squared", lambda ns: (ns["energies"], ns["my_div"], float(np.mean(ns["e_plus"] + ns["e_cf"]))),
          "is not squared"),
         ("div sign", lambda ns: (ns["energies"], float(np.mean(ns["e_cf"] - ns["e_plus"])), ns["my_ridge"]),
          "has the wrong sign"),
         ("+logit", lambda ns: (_plus_logit, ns["my_div"], ns["my_ridge"]), "returns +f(x)[y⁺]"))),
    "mature_by_hand": Spec(
        lambda ns: dict(model=ns["ct"], result=ns["short"], threshold=ns["preset"].threshold),
        (("validity instead of maturity", lambda ns: (_validity_not_maturity,), "tests validity"),
         ("inverted", lambda ns: (_maturity_inverted,), "is inverted"),)),
    "nascent_by_hand": Spec(
        lambda ns: dict(result=ns["res"], epsilon=ns["EPS"]),
        (("l2 ball", lambda ns: (_l2_nascent,), "with the ℓ2 norm"),
         ("end of the path", lambda ns: (_path_end,), "returns the final counterfactual"),)),
    "pgd_paper_grid": Spec(
        lambda ns: dict(models=ns["models"], x=ns["x_test"], y=ns["y_test"]),
        (("FGSM instead of PGD", lambda ns: ({name: ev.robust_accuracy(m, ns["x_test"], ns["y_test"],
                                                                       cftkit.defaults.ROBUST_EPSILONS, attack="fgsm")
                                              for name, m in ns["models"].items()},),
          'comes from the FGSM attack; pass attack="pgd"'),
         ("lesson's own grid", lambda ns: ({name: dict(c, epsilon=np.linspace(0, 0.3, len(c["epsilon"])))
                                             for name, c in ns["paper_curves"].items()},),
          "uses an ε grid up to 0.3"),)),
    "total_loss": Spec(
        lambda ns: dict(history=ns["history"], lambdas=ns["lambdas"]),
        (("no weights", lambda ns: (_unweighted_loss,), "adds the terms without their weights"),
         ("div subtracted", lambda ns: (_subtracted_div,), "subtracts the div term"),)),
    "adversarial_finetune": Spec(
        lambda ns: dict(model=ns["ct"], dataset=ns["ds"]),
        (("clean accuracy", lambda ns: (ns["before"], ev.accuracy(ns["ct"], ns["ds"].x_test, ns["ds"].y_test),
                                        ns["finetune"]), "is the clean accuracy"),
         ("two epochs", lambda ns: (ns["before"], ns["after"], {k: v[-2:] for k, v in ns["finetune"].items()}),
          "has 2 epochs; train for 5"),)),
    "star_by_hand": Spec(
        lambda ns: dict(result=ns["res"]),
        (("np.percentile with fractions", lambda ns: (_percent_as_fraction,), "passes fractions to np.percentile"),
         ("significance inverted", lambda ns: (_significance_inverted,), "`significant` is inverted"),)),
    "mmd_by_hand": Spec(
        lambda ns: dict(a=ns["found"]["CT"].counterfactual, b=ns["ds"].x_test[ns["ds"].y_test == 1]),
        (("biased estimate", lambda ns: (_biased_mmd2,), "is the biased estimate"),
         ("cross term added", lambda ns: (_mmd2_cross_added,), "adds the cross term"),)),
    "most_changed": Spec(
        lambda ns: dict(result=ns["ch_res"], dataset=ns["ch"]),
        (("signed change", _signed_change, "averages the signed change"),
         ("index, not name", lambda ns: (ns["mean_change"],
                                         {k: int(np.argmax(v)) for k, v in ns["mean_change"].items()}),
          "is an index"),)),
    "border_frame": Spec(
        lambda ns: dict(model=ns["mn_ct"], factuals=ns["x"], targets=ns["targets"],
                        constraints=ns["mn_protected"].constraints),
        (("rows instead of columns", lambda ns: ([28 * r + c for r in (*range(5), *range(23, 28)) for c in range(28)],
                                                 ns["cf_frame"]), "holds pixel *rows*"),
         ("one side", lambda ns: ([28 * r + c for r in range(28) for c in range(5)], ns["cf_frame"]),
          "has only one side"),
         ("old constraints", lambda ns: (ns["border"], cftkit.search(ns["mn_ct"], ns["x"], ns["targets"],
                                         constraints=ns["mn_protected"].constraints, threshold=0.5, max_steps=50,
                                         cost_weight=0.0, energy_weight=1.0).counterfactual),
          "was searched with the old constraints"),)),
    "two_averages": Spec(
        lambda ns: dict(result=ns["result"]),
        (("fraction, not percent", lambda ns: ({m: v / 100 for m, v in ns["ratio_of_means"].items()},
                                               ns["differs_most"]), "is a fraction"),
         ("BL / CT", lambda ns: ({m: (1 - ns["result"][m]["bl_mean"] / ns["result"][m]["ct_mean"]) * 100
                                  for m in ns["ratio_of_means"]}, ns["differs_most"]), "divides BL by CT"),)),
    "agreement": Spec(
        lambda ns: dict(stored=ns["stored"]),
        (("tolerance·paper without abs", lambda ns: (_within_signed_paper,),
          "forgets the absolute value of the paper's number"),
         ("absolute tolerance", lambda ns: (_within_absolute,), "uses an absolute tolerance"),
         # no stored cell lies on the boundary: only the hidden tests see this one
         ("strict inequality", lambda ns: (_within_strict,), "uses a strict inequality", "hidden"),)),
}

WRONG = [pytest.param(ex, k, id=f"{_ids(ex)}-{wrong[0]}") for ex in EXERCISES if ex.name in SPECS
         for k, wrong in enumerate(SPECS[ex.name].wrong)]


def _answers(ex, ns):
    return tuple(ns[name] for name in ex.answers)


def _assert_failed(result, ex, phrase):
    assert not result.passed, result.message
    assert result.message.startswith("✗"), result.message
    assert phrase in result.message, f"expected {phrase!r} in the feedback:\n{result.message}"
    assert f"ex.{ex.name}.hint()" in result.message, result.message


# ==================================================================================== the checks
def test_every_lesson_has_exercises():
    assert len(EXERCISES) >= 18
    assert len(BY_NAME) == len(EXERCISES), "exercise names (the nbgrader grade_ids) must be unique"
    for lesson in exercises.LESSONS:
        mine = exercises.lesson(lesson).EXERCISES
        assert len(mine) >= 2, f"lesson {lesson} has {len(mine)} exercise(s)"
        for ex in mine:
            assert ex.lesson == lesson and ex.answers and ex.solution_code.strip() and ex.points >= 1
            assert ex.test_id == f"{ex.grade_id}_test"
    assert set(SPECS) == set(BY_NAME), "every exercise needs a context and a wrong answer in SPECS"


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_solution_passes(ex, world):
    ns = world.solved(ex)
    context = SPECS[ex.name].context(ns)
    result = ex.feedback(*_answers(ex, ns), **context)
    assert result.passed, result.message
    assert result.message.startswith("✓ Correct."), result.message
    hidden = ex.hidden_feedback(*_answers(ex, ns), **context)
    assert hidden.passed, hidden.message


@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_student_stub_fails_with_instructions(ex, world):
    ns = world.solved(ex)
    context = SPECS[ex.name].context(ns)
    functions = [name for name in ex.answers if callable(ns[name])]
    # what the student copy leaves: stubbed functions, undefined values (None)
    stubs = tuple(_stub if name in functions else None for name in ex.answers)
    result = ex.feedback(*stubs, **context)
    if len(functions) < len(ex.answers):
        _assert_failed(result, ex, "has no value yet: write your solution in the cell above")
    else:
        _assert_failed(result, ex, "still raises NotImplementedError: replace the `raise NotImplementedError()` line")
    assert not ex.hidden_feedback(*stubs, **context).passed
    if functions:  # a function stub next to correct values
        answers = tuple(_stub if name in functions else ns[name] for name in ex.answers)
        _assert_failed(ex.feedback(*answers, **context), ex, "still raises NotImplementedError")
    with pytest.raises(AssertionError, match="✗"):
        ex.assert_correct(*stubs, **context)


@pytest.mark.parametrize("ex, k", WRONG)
def test_typical_mistake_gets_its_hint(ex, k, world):
    ns = world.solved(ex)
    _, wrong, phrase, *where = SPECS[ex.name].wrong[k]
    answers = wrong(ns)
    assert len(answers) == len(ex.answers)
    context = SPECS[ex.name].context(ns)
    if where == ["hidden"]:  # the lesson's data cannot show this mistake; the hidden tests' inputs do
        result = ex.hidden_feedback(*answers, **context)
        assert not result.passed and result.message.startswith("✗ (hidden test)"), result.message
        assert phrase in result.message, f"expected {phrase!r} in the feedback:\n{result.message}"
    else:
        _assert_failed(ex.feedback(*answers, **context), ex, phrase)


def test_hint_and_solution_print(capsys):
    ex = BY_NAME["mask_step"]
    ex.hint()
    ex.solution()
    out = capsys.readouterr().out
    assert out.startswith("Hint: ") and ex.solution_code in out
    assert "ex.mask_step.check(mask_step, ...)" in repr(ex)


# ================================================================= the exercises in the lesson sources
@pytest.mark.parametrize("ex", EXERCISES, ids=_ids)
def test_exercise_cells_in_lesson_source(ex):
    cells = _source_cells(ex.lesson)
    where = f"{_source(ex.lesson).relative_to(ROOT)}"
    meta = [c.metadata.get("nbgrader", {}) for c in cells]
    solution = [i for i, m in enumerate(meta) if m.get("grade_id") == ex.grade_id]
    test = [i for i, m in enumerate(meta) if m.get("grade_id") == ex.test_id]
    assert len(solution) == 1, f"{where}: no nbgrader solution cell with grade_id {ex.grade_id!r}"
    assert len(test) == 1, f"{where}: no nbgrader test cell with grade_id {ex.test_id!r}"
    (s,), (t,) = solution, test
    assert meta[s].get("solution") is True and not meta[s].get("grade") and not meta[s].get("locked")
    assert meta[t].get("grade") is True and meta[t].get("locked") is True and not meta[t].get("solution")
    assert meta[t].get("points") == ex.points
    assert cells[s].cell_type == cells[t].cell_type == "code" and s < t
    # the test cell: the visible check, then the hidden tests
    source = cells[t].source
    assert source.count("### BEGIN HIDDEN TESTS") == source.count("### END HIDDEN TESTS") == 1
    visible, hidden = source.split("### BEGIN HIDDEN TESTS")
    assert f"ex.{ex.name}.assert_correct(" in visible
    assert f"ex.{ex.name}.assert_hidden(" in hidden.split("### END HIDDEN TESTS")[0]
    # both calls pass the answers in the order of ex.answers and the lesson objects the grade function takes
    keywords = {p.name for p in inspect.signature(ex._grade).parameters.values()
                if p.kind == p.KEYWORD_ONLY and p.name != "strict"}
    calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr in ("assert_correct", "assert_hidden")]
    assert sorted(c.func.attr for c in calls) == ["assert_correct", "assert_hidden"]
    for call in calls:
        assert ast.unparse(call.func.value) == f"ex.{ex.name}"
        assert [ast.unparse(a) for a in call.args] == list(ex.answers), f"{where}: {ast.unparse(call)}"
        assert {k.arg for k in call.keywords} == keywords, f"{where}: {ast.unparse(call)}"
    # the solution cell: ex.solution_code with the solution regions marked
    code = cells[s].source
    assert code.count("### BEGIN SOLUTION") == code.count("### END SOLUTION") >= 1
    unmarked = [line for line in code.splitlines() if line.strip() not in MARKERS[:2]]
    assert _lines("\n".join(unmarked)) == _lines(ex.solution_code), \
        f"{where}: the solution cell of {ex.name} is not ex.{ex.name}.solution_code"


# ====================================================================================== nbgrader
def _expected_student_source(source: str) -> str:
    """What nbgrader's ClearSolutions / ClearHiddenTests make of a cell (with the course's settings)."""
    out, skipping = [], None
    for line in source.split("\n"):
        if "BEGIN SOLUTION" in line:
            indent = re.match(r"\s*", line).group(0)
            out += [indent + stub for stub in STUB.split("\n")]
            skipping = "END SOLUTION"
        elif "BEGIN HIDDEN TESTS" in line:
            skipping = "END HIDDEN TESTS"
        elif skipping and skipping in line:
            skipping = None
        elif not skipping:
            out.append(line)
    return "\n".join(out)


@pytest.fixture(scope="module")
def build():
    return _load_build()


@pytest.fixture(scope="module")
def released(build):
    """nbgrader's student version of every lesson (one generate_assignment run)."""
    if importlib.util.find_spec("nbgrader") is None:
        pytest.skip("nbgrader is not installed (pip install -e '.[course]')")
    return build.student_versions(LESSON_NAMES)


@pytest.mark.parametrize("name", LESSON_NAMES)
def test_nbgrader_student_version(name, build, released):
    source = build.course_source(json.loads(build.notebook_path(name).read_text(encoding="utf-8")))
    student = released[name]
    assert len(student["cells"]) == len(source["cells"])
    n_regions = 0
    for a, b in zip(source["cells"], student["cells"]):
        text_a, text_b = "".join(a["source"]), "".join(b["source"])
        for marker in MARKERS:
            assert marker.split(" ", 1)[1] not in text_b, f"{name}: {marker!r} in the student version"
        assert ".assert_hidden(" not in text_b
        assert text_b == _expected_student_source(text_a)
        n_regions += text_a.count("BEGIN SOLUTION")
        assert text_b.count("raise NotImplementedError()") == text_a.count("raise NotImplementedError()") + \
            text_a.count("BEGIN SOLUTION")
        if b["cell_type"] == "code":
            assert b["outputs"] == [] and b["execution_count"] is None
    lesson = name[:2]
    assert n_regions >= len(exercises.lesson(lesson).EXERCISES), f"{name}: fewer solution regions than exercises"
    committed = build.student_path(name)
    fix = "python notebooks/_tools/build.py --student-only"
    assert committed.exists(), f"{committed.relative_to(ROOT)} is missing: {fix}"
    assert build.render(student) == committed.read_text(encoding="utf-8"), \
        f"{committed.relative_to(ROOT)} is not nbgrader's student version: {fix}"


AUTOGRADED = "01_counterfactual_search"  # the quickest lesson to execute (about 20 s)


@pytest.mark.slow
def test_nbgrader_autograde_one_lesson(build, tmp_path, monkeypatch):
    """Autograde a lesson end to end: the untouched student copy scores 0, the solutions score full points."""
    pytest.importorskip("nbgrader")
    import shutil

    from nbgrader.api import Gradebook

    # nbgrader's gradebook (autograde cannot run without one: it has no --no-db) calls `alembic` from PATH
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for key, value in build.KERNEL_ENV.items():
        monkeypatch.setenv(key, value)
    name = AUTOGRADED
    root = build.write_course(tmp_path / "course", [name])
    build.nbgrader(["generate_assignment", name, "--force"], cwd=root)
    release = root / "release" / name / f"{name}.ipynb"
    assert build.render(json.loads(release.read_text(encoding="utf-8"))) == \
        build.student_path(name).read_text(encoding="utf-8")
    submissions = {"untouched": release, "solved": root / "source" / name / f"{name}.ipynb"}
    for student, path in submissions.items():
        folder = root / "submitted" / student / name
        folder.mkdir(parents=True)
        shutil.copyfile(path, folder / f"{name}.ipynb")
    build.nbgrader(["autograde", name, "--force"], cwd=root)
    n_tests = len(exercises.lesson(name[:2]).EXERCISES)
    points = sum(ex.points for ex in exercises.lesson(name[:2]).EXERCISES)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="cftkit") as gb:
        scores = {student: gb.find_submission(name, student) for student in submissions}
        scores = {student: (s.score, s.max_score) for student, s in scores.items()}
    assert scores == {"untouched": (0.0, float(points)), "solved": (float(points), float(points))}
    # the graded test cells of the untouched copy failed with the check's message, not with a crash of the check
    graded = json.loads((root / "autograded" / "untouched" / name / f"{name}.ipynb").read_text(encoding="utf-8"))
    tests = [c for c in graded["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert len(tests) == n_tests
    for cell in tests:
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert errors and errors[0]["ename"] in ("AssertionError", "NameError"), cell["outputs"]
    # the student copy stands alone: outside the exercises every cell ran without an error (widgets included)
    for k, cell in enumerate(graded["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or meta.get("grade") or meta.get("solution"):
            continue
        errors = [f"{o['ename']}: {o['evalue']}" for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors, f"cell {k} of the untouched student copy failed: {errors}"


# ============================================================================= the Colab install cell
def _install_cell(lesson_name: str) -> str:
    import jupytext

    code = [c for c in jupytext.read(SRC / f"{lesson_name}.py").cells if c.cell_type == "code"]
    return code[0].source


def test_colab_install_cell_is_the_same_everywhere():
    cells = {name: _install_cell(name) for name in LESSON_NAMES}
    first = cells[LESSON_NAMES[0]]
    assert '"google.colab" in sys.modules' in first
    for name, cell in cells.items():
        assert cell == first, f"{name}: its first code cell is not the lessons' Colab install cell"


@pytest.mark.parametrize("colab, importable, installed", [
    (False, set(), None),                          # Binder, JupyterLab: never installs anything
    (False, {"tensorflow"}, None),
    (True, {"tensorflow"}, "cftkit"),              # Colab: keep its TensorFlow, no tensorflow-cpu beside it
    (True, set(), "cftkit[cpu]"),                  # no TensorFlow at all: the CPU build
    (True, {"cftkit", "tensorflow"}, None),        # already installed (a second run of the cell)
    (True, {"cftkit"}, None),
], ids=["local", "local-with-tf", "colab-with-tf", "colab-without-tf", "colab-installed", "colab-installed-no-tf"])
def test_colab_install_cell(colab, importable, installed, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda args, *a, **k: calls.append(list(args)) or 0)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name in ("cftkit", "tensorflow"):
            return types.SimpleNamespace(name=name) if name in importable else None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(_install_cell(LESSON_NAMES[0]), "<install cell>", "exec"), {"__name__": "__main__"})  # noqa: S102
    if installed is None:
        assert calls == []
        return
    (args,) = calls
    assert args[:4] == [sys.executable, "-m", "pip", "install"]
    assert args[-1] == f"{installed} @ git+https://github.com/cftkit/cftkit"
    if installed == "cftkit":
        assert not any("[cpu]" in a or "tensorflow-cpu" in a for a in args)


def test_colab_install_cell_survives_broken_specs(monkeypatch):
    """find_spec raises ValueError for a module in sys.modules without a spec; the cell treats it as absent."""
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda args, *a, **k: calls.append(list(args)) or 0)

    def find_spec(name, package=None):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(compile(_install_cell(LESSON_NAMES[0]), "<install cell>", "exec"), {"__name__": "__main__"})  # noqa: S102
    assert [c[-1] for c in calls] == ["cftkit[cpu] @ git+https://github.com/cftkit/cftkit"]


# ======================================================================== student copies stand alone
INSTRUCTOR_ONLY = ("student copy", "student copies", "instructor notebook", "instructor version", "make_student",
                   "solution cell", "the next cell holds a solution", "### begin solution", "begin hidden tests")


@pytest.mark.parametrize("path", STUDENT_FILES, ids=lambda p: p.stem)
def test_student_copy_stands_alone(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for k, cell in enumerate(nb["cells"]):
        text = "".join(cell["source"]).lower()
        for phrase in INSTRUCTOR_ONLY:
            assert phrase not in text, f"{path.name}, cell {k} ({cell['cell_type']}): instructor-only text {phrase!r}"
    first = "".join(nb["cells"][0]["source"])
    links = re.findall(r"\]\((https?://[^)\s]+)\)", first)
    binder = [u for u in links if "mybinder.org" in u]
    colab = [u for u in links if "colab.research.google.com" in u]
    assert binder and colab, f"{path.name}: the first cell has no Binder and Colab launch links"
    for url in binder + colab:
        assert url.endswith(f"notebooks/student/{path.name}"), f"{path.name}: launch link {url} is not its own copy"
    assert STUDENT_FILES and {p.stem for p in STUDENT_FILES} == set(LESSON_NAMES)
