"""Lesson 05 · Training end to end: CT's loss from its terms, and a purely adversarial fine-tune."""

from __future__ import annotations

import numpy as np

from ._core import Exercise, Mistake, call, close, diagnose, mapping, number, rng, tolerances

TERMS = ("ct_clf", "ct_div", "ct_reg", "ct_adv")
LAMBDAS = ("lambda_clf", "lambda_div", "lambda_reg", "lambda_adv")


def _loss(logs, lam):
    return (lam["lambda_clf"] * logs["ct_clf"] + lam["lambda_div"] * logs["ct_div"]
            + lam["lambda_reg"] * logs["ct_reg"] + lam["lambda_adv"] * logs["ct_adv"])


def _check_total(total_loss, logs, lam, want, tol, where):
    got = number(call(total_loss, dict(logs), dict(lam), name="total_loss"), f"total_loss({where}, lambdas)")
    if close(got, want, **tol):
        return
    without = {f"`total_loss` leaves out the {term[3:]} term: add λ_{term[3:]}·{term}": dict(lam, **{f"lambda_{term[3:]}": 0.0})
               for term in TERMS[1:]}
    diagnose(got, {
        "`total_loss` adds the terms without their weights: loss = λ_clf·clf + λ_div·div + λ_reg·reg + λ_adv·adv":
            sum(logs[t] for t in TERMS),
        "`total_loss` subtracts the div term; CT *adds* λ_div·div (div itself is negative when the model learns)":
            _loss(logs, lam) - 2 * lam["lambda_div"] * logs["ct_div"],
        "`total_loss` forgets λ_clf, the weight of the classification loss": _loss(logs, dict(lam, lambda_clf=1.0)),
        **{msg: _loss(logs, l) for msg, l in without.items()},
        "`total_loss` is only the classification loss; add the weighted CT terms": logs["ct_clf"],
    }, "`total_loss(logs, lambdas)` is not λ_clf·ct_clf + λ_div·ct_div + λ_reg·ct_reg + λ_adv·ct_adv", **tol)


def _grade_total(total_loss, *, history, lambdas, strict=False):
    tol = tolerances(strict)
    lam = {k: number(v, f"lambdas[{k!r}]") for k, v in mapping(lambdas, "lambdas", LAMBDAS).items()}
    hist = history.history if hasattr(history, "history") else history
    missing = [k for k in ("loss", *TERMS) if k not in hist]
    if missing:
        raise Mistake(f"the history has no {', '.join(missing)}: pass the History of a CT model's fit")
    n = len(hist["loss"])
    for epoch in range(n):
        logs = {k: float(hist[k][epoch]) for k in TERMS}
        want = float(hist["loss"][epoch])
        if not close(_loss(logs, lam), want, rtol=1e-4, atol=1e-6):
            raise Mistake(f"with these `lambdas` the logged loss of epoch {epoch + 1} is not λ_clf·clf + λ_div·div + "
                          f"λ_reg·reg + λ_adv·adv: use the λ's of that fit (the preset's, preset.model_kwargs(\"full\"))")
        _check_total(total_loss, logs, lam, want, tol, f"epoch {epoch + 1}'s logs")
    last = {k: float(hist[k][-1]) for k in TERMS}
    shares = {t[3:]: lam[f"lambda_{t[3:]}"] * last[t] for t in TERMS}
    top = max(("div", "reg", "adv"), key=lambda t: abs(shares[t]))
    return (f"Your formula gives the logged loss of all {n} epochs. In the last one the largest CT term is "
            f"λ·{top} = {shares[top]:+.3f} (clf {shares['clf']:.3f}).")


def _hidden_total(total_loss, *, history, lambdas):
    _grade_total(total_loss, history=history, lambdas=lambdas, strict=True)
    g = rng(5)
    for _ in range(5):
        logs = dict(zip(TERMS, (g.uniform(0.05, 1.0), g.normal(), g.uniform(0, 3), g.uniform(0, 2))))
        lam = dict(zip(LAMBDAS, g.uniform(0.0, 2.0, 4)))
        _check_total(total_loss, logs, lam, _loss(logs, lam), tolerances(True), "random logs")


total_loss = Exercise(
    "05", "total_loss", "CT's loss from its logged terms", ("total_loss",), _grade_total, hidden=_hidden_total,
    hint="""
        The loss of a CT step is λ_clf·clf + λ_div·div + λ_reg·reg + λ_adv·adv; the History logs the
        unweighted terms as ct_clf, ct_div, ct_reg and ct_adv. Return
        lambdas["lambda_clf"] * logs["ct_clf"] + lambdas["lambda_div"] * logs["ct_div"] + ... .""",
    solution='''
        def total_loss(logs, lambdas):
            """CT's loss from one epoch's logged terms: λ_clf·clf + λ_div·div + λ_reg·reg + λ_adv·adv."""
            return (lambdas["lambda_clf"] * logs["ct_clf"] + lambdas["lambda_div"] * logs["ct_div"]
                    + lambdas["lambda_reg"] * logs["ct_reg"] + lambdas["lambda_adv"] * logs["ct_adv"])


        lambdas = {k: preset.model_kwargs("full")[k] for k in ("lambda_clf", "lambda_div", "lambda_reg", "lambda_adv")}
        last_epoch = {k: v[-1] for k, v in history.history.items()}
        print(f"loss by hand {total_loss(last_epoch, lambdas):.4f}, logged {last_epoch['loss']:.4f}")''')


# ------------------------------------------------------------------------------ adversarial fine-tune
def _fgsm(model, dataset, eps):
    from ..evaluation import robust_accuracy

    return float(robust_accuracy(model, dataset.x_test, dataset.y_test, [eps], attack="fgsm")["accuracy"][0])


def _grade_finetune(before, after, finetune, *, model, dataset, strict=False):
    from ..evaluation import accuracy, robust_accuracy

    tol = tolerances(strict)
    hp = model.hyperparameters
    wanted = {"lambda_div": 0.0, "lambda_reg": 0.0, "lambda_adv": 1.0}
    wrong = [f"{k} = {hp[k]:g}" for k, v in wanted.items() if not np.isclose(hp[k], v)]
    if wrong:
        raise Mistake(f"the model's knobs are {', '.join(wrong)}: set λ_div = λ_reg = 0 and λ_adv = 1 (the demo "
                      f"trainer's sliders, e.g. demo.lambda_adv.value = 1.0) before training")
    hist = finetune.history if hasattr(finetune, "history") else finetune
    if not isinstance(hist, dict) or "loss" not in hist:
        raise Mistake("`finetune` should be the fine-tune's history: demo.train(5).history")
    if len(hist["loss"]) != 5:
        raise Mistake(f"`finetune` has {len(hist['loss'])} epochs; train for 5 (demo.train(5))")
    gap = float(hist["loss"][-1]) - hp["lambda_clf"] * float(hist["ct_clf"][-1])
    if not close(gap, float(hist["ct_adv"][-1]), rtol=1e-4, atol=1e-6):
        raise Mistake("in `finetune` the loss is not clf + adv: it is not the history of a fit with λ_div = λ_reg = 0 "
                      "and λ_adv = 1 (set the sliders before demo.train(5))")
    b = number(before, "before")
    if not 0.0 <= b <= 1.0:
        raise Mistake(f"`before` = {b:g} is not an accuracy (a share between 0 and 1)")
    got = number(after, "after")
    want = _fgsm(model, dataset, 0.3)
    if not close(got, want, **tol):
        diagnose(got, {
            "`after` is the PGD accuracy; the exercise asks for FGSM (attack=\"fgsm\")":
                lambda: float(robust_accuracy(model, dataset.x_test, dataset.y_test, [0.3], attack="pgd")["accuracy"][0]),
            "`after` is the clean accuracy; attack with ε = 0.3: ev.robust_accuracy(ct, ds.x_test, ds.y_test, [0.3])":
                lambda: float(accuracy(model, dataset.x_test, dataset.y_test)),
            "`after` uses ε = 0.03; the exercise's ε is 0.3": lambda: _fgsm(model, dataset, 0.03),
        }, "`after` is not the FGSM accuracy at ε = 0.3 of `ct` on the whole test set, measured after the fine-tune",
            **tol)
    change = "raised" if want > b else "did not raise"
    return f"Five adversarial-only epochs {change} the FGSM accuracy at ε = 0.3 ({b:.3f} → {want:.3f})."


adversarial_finetune = Exercise(
    "05", "adversarial_finetune", "A purely adversarial fine-tune", ("before", "after", "finetune"), _grade_finetune,
    hint="""
        Measure before = ev.robust_accuracy(ct, ds.x_test, ds.y_test, [0.3], attack="fgsm")["accuracy"][0];
        set demo.lambda_div.value = demo.lambda_reg.value = 0.0 and demo.lambda_adv.value = 1.0; keep
        finetune = demo.train(5).history; then measure `after` the same way as `before`.""",
    solution='''
        before = ev.robust_accuracy(ct, ds.x_test, ds.y_test, [0.3], attack="fgsm")["accuracy"][0]
        demo.lambda_div.value, demo.lambda_reg.value, demo.lambda_adv.value = 0.0, 0.0, 1.0
        finetune = demo.train(5).history
        after = ev.robust_accuracy(ct, ds.x_test, ds.y_test, [0.3], attack="fgsm")["accuracy"][0]
        print(f"FGSM accuracy at ε = 0.3: before {before:.3f}, after {after:.3f}")''')

EXERCISES = (total_loss, adversarial_finetune)
