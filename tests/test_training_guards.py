"""CounterfactualModel's guards: whole-step skips on any non-finite update, seeded shuffling on every code
path, fit's validation before any state change, and progress bars that fit on a line."""

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cftkit
import keras
import tensorflow as tf


@pytest.fixture(scope="module")
def moons():
    return cftkit.datasets.load("moons")


def _bn_classifier(seed=0):
    """Dense → BatchNorm → ReLU → Dense(2) logits: a forward pass in training mode writes BatchNorm's
    moving statistics, so a skipped step must also restore non-trainable state."""
    init = lambda j: keras.initializers.GlorotUniform(seed=seed + j)  # noqa: E731
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, kernel_initializer=init(0)),
                             keras.layers.BatchNormalization(), keras.layers.ReLU(),
                             keras.layers.Dense(2, kernel_initializer=init(1))])


def _state(model):
    """Every value a training step may write: classifier weights (with BatchNorm statistics) and the
    optimizer's variables (iteration count, learning rate, Adam's m and v)."""
    return [v.numpy().copy() for v in model.classifier.weights] + [v.numpy().copy() for v in model.optimizer.variables]


# ---------------------------------------------------------------------------------------------- item 2

OVERFLOW_PATHS = {
    "graph": (dict(), dict(fuse_epochs=False)),
    "xla-keras-loop": (dict(jit_compile=True, steps_per_execution=5), dict(fuse_epochs=False)),
    "xla-fused-epochs": (dict(jit_compile=True, steps_per_execution=10), dict(fuse_epochs=True)),
}


@pytest.mark.parametrize("path", sorted(OVERFLOW_PATHS))
def test_an_update_that_overflows_only_in_the_optimizer_skips_the_whole_step(moons, path):
    """λ_reg = 0, λ_div = 1e20: loss and gradients stay finite, but Adam's v = g² overflows float32."""
    compile_kw, fit_kw = OVERFLOW_PATHS[path]
    x, y = moons.x_train[:300], moons.y_train[:300]
    model = cftkit.CounterfactualModel(_bn_classifier(), constraints=moons.constraints, n_ce=100, threshold=0.5)
    model.compile(metrics=["accuracy"], **compile_kw)
    model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False, **fit_kw)  # builds all, moves BN/Adam
    assert (model._fused is not None) is (path == "xla-fused-epochs")
    before = _state(model)
    iterations = int(model.optimizer.iterations.numpy())
    assert iterations == 10 and any(np.any(v != 0) for v in before[-4:])  # Adam's slots hold real values

    model.set_hyperparameters(lambda_reg=0.0, lambda_div=1e20, lambda_adv=0.0)
    h = model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False, **fit_kw)
    assert np.isfinite(h.history["loss"][0]), "the loss must stay finite: the overflow is the optimizer's"
    assert h.history["ct_skipped"] == [10.0]
    after = _state(model)
    assert len(after) == len(before)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)  # bitwise: weights, BN statistics, m, v, iterations
    assert int(model.optimizer.iterations.numpy()) == iterations  # a skipped step does not count

    # the cause removed, training proceeds: every step applied, BN statistics and slots move, all finite
    model.set_hyperparameters(lambda_reg=0.1, lambda_div=1.0, lambda_adv=1.0)
    h = model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False, **fit_kw)
    assert h.history["ct_skipped"] == [0.0] and np.isfinite(h.history["loss"][0])
    final = _state(model)
    assert all(np.all(np.isfinite(v)) for v in final if v.dtype.kind == "f")
    bn = model.classifier.layers[1]
    moved = {v.path for v, a, b in zip(model.classifier.weights, after, final) if not np.array_equal(a, b)}
    assert {bn.moving_mean.path, bn.moving_variance.path} <= moved and len(moved) == len(model.classifier.weights)
    assert int(model.optimizer.iterations.numpy()) == iterations + 10


def test_a_gradient_whose_square_overflows_is_skipped_in_plain_training(moons):
    """BL (no search): λ_clf = 1e25 gives a finite loss (~1e25) and finite gradients whose squares
    overflow float32 in Adam's v."""
    x, y = moons.x_train[:300], moons.y_train[:300]
    model = cftkit.CounterfactualModel(_bn_classifier(), objective="vanilla", constraints=moons.constraints)
    model.compile(metrics=["accuracy"])
    model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)
    before = _state(model)
    model.lambda_clf = 1e25
    h = model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(h.history["loss"][0]) and h.history["ct_skipped"] == [10.0]
    for b, a in zip(before, _state(model)):
        np.testing.assert_array_equal(a, b)
    model.lambda_clf = 1.0
    h = model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)
    assert h.history["ct_skipped"] == [0.0] and int(model.optimizer.iterations.numpy()) == 20


MIRRORED_OVERFLOW = textwrap.dedent("""
    import json, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, cftkit
    ds = cftkit.datasets.load("moons")
    x, y = ds.x_train[:240], ds.y_train[:240]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        init = lambda j: keras.initializers.GlorotUniform(seed=j)
        clf = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, kernel_initializer=init(0)),
                                keras.layers.BatchNormalization(), keras.layers.ReLU(),
                                keras.layers.Dense(2, kernel_initializer=init(1))])
        m = cftkit.CounterfactualModel(clf, constraints=ds.constraints, n_ce=80, threshold=0.5)
        m.compile(metrics=["accuracy"])
    def state():  # every replica's copy of every variable a step writes
        return [r.numpy().copy() for v in m.classifier.weights + m.optimizer.variables
                for r in strategy.experimental_local_results(v.value)]
    m.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)
    before = state()
    m.set_hyperparameters(lambda_reg=0.0, lambda_div=1e20, lambda_adv=0.0)
    h1 = m.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)
    after = state()
    m.set_hyperparameters(lambda_reg=0.1, lambda_div=1.0, lambda_adv=1.0)
    h2 = m.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)
    final = state()
    print("RESULT" + json.dumps({
        "replicas": strategy.num_replicas_in_sync, "loss1": h1.history["loss"], "skipped1": h1.history["ct_skipped"],
        "unchanged": all(np.array_equal(a, b) for a, b in zip(before, after)),
        "skipped2": h2.history["ct_skipped"], "loss2": h2.history["loss"],
        "changed": sum(not np.array_equal(a, b) for a, b in zip(after, final)), "n": len(final),
        "finite": all(bool(np.all(np.isfinite(v))) for v in final if v.dtype.kind == "f")}))
""")


def test_mirrored_replicas_agree_to_skip_an_overflowing_update():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    proc = subprocess.run([sys.executable, "-c", MIRRORED_OVERFLOW], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1][6:])
    assert out["replicas"] == 2
    assert np.isfinite(out["loss1"][0]) and out["skipped1"] == [8.0]  # 8 steps, counted once each
    assert out["unchanged"]  # on both replicas
    assert out["skipped2"] == [0.0] and np.isfinite(out["loss2"][0]) and out["finite"]
    assert out["changed"] >= out["n"] // 2


# ---------------------------------------------------------------------------------------------- item 6

SEEDED_PATHS = textwrap.dedent("""
    import hashlib, json, sys, numpy as np, keras, cftkit
    ds = cftkit.datasets.load("moons")
    x, y = ds.x_train[:300], ds.y_train[:300]
    def train(rows, compile_kw, fits=1, **fit_kw):
        clf = cftkit.build_classifier(2, 2, seed=0)  # seeded initialisation; no global seed is set
        m = cftkit.CounterfactualModel(clf, constraints=ds.constraints, n_ce=60, max_steps=5, seed=4)
        m.compile(metrics=["accuracy"], **compile_kw)
        for _ in range(fits):
            m.fit(x[:rows], y[:rows], batch_size=30, epochs=2, verbose=0, **fit_kw)
        w = np.concatenate([v.ravel() for v in m.get_weights()])
        return {"fused": m._fused, "sha": hashlib.sha256(w.tobytes()).hexdigest(), "w": w[:4].tolist()}
    fused = dict(steps_per_execution=10)
    out = {
        "fused-rows": train(300, fused, shuffle=True),
        "fused-batch": train(300, fused, shuffle="batch"),
        "loop-uneven-rows": train(290, fused, shuffle=True),
        "loop-uneven-batch": train(290, {}, shuffle="batch"),
        "loop-no-fusion": train(300, {}, shuffle=True, fuse_epochs=False),
        "loop-validation-split": train(300, {}, shuffle=True, validation_split=0.2),
        "loop-sample-weight": train(300, {}, shuffle=True, sample_weight=np.linspace(0.5, 1.5, 300)),
        "loop-two-fits": train(290, {}, fits=2, shuffle=True),
        "unshuffled": train(300, {}, shuffle=False, fuse_epochs=False),
    }
    print("RESULT" + json.dumps(out))
""")


def test_one_seed_gives_the_same_weights_in_fresh_processes_on_every_path():
    """Keras' loop used to shuffle with TF's unseeded global RNG: weights differed between processes."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    procs = [subprocess.Popen([sys.executable, "-c", SEEDED_PATHS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=900)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(json.loads([ln for ln in stdout.splitlines() if ln.startswith("RESULT")][-1][6:]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    first, second = outs
    assert first["fused-rows"]["fused"] == "rows" and first["fused-batch"]["fused"] == "batch"
    assert all(first[k]["fused"] is None for k in first if not k.startswith("fused"))
    for key in first:
        assert first[key]["sha"] == second[key]["sha"], key  # identical weights, bit for bit
    assert first["loop-no-fusion"]["sha"] != first["unshuffled"]["sha"]  # the shuffle did act (same path)


def _model(ds, **kw):
    clf = cftkit.build_classifier(ds.n_features, ds.n_classes, seed=0)
    kw.setdefault("n_ce", 100)
    model = cftkit.CounterfactualModel(clf, constraints=ds.constraints, **kw)
    model.compile(metrics=["accuracy"], jit_compile=True, steps_per_execution=10)
    return model


@pytest.mark.parametrize("shuffle", [True, "batch"])
def test_fused_epochs_and_keras_loop_shuffle_alike(moons, shuffle):
    """Both paths draw the order from (seed, fit call, epoch): the same steps in the same order, and a
    second fit call gets new orders on both."""
    weights = {}
    for fuse in (True, False):
        model = _model(moons)
        for _ in range(2):
            model.fit(moons.x_train[:300], moons.y_train[:300], batch_size=30, epochs=2, verbose=0, shuffle=shuffle,
                      fuse_epochs=fuse)
        assert (model._fused is not None) is fuse
        weights[fuse] = model.get_weights()
    for a, b in zip(weights[True], weights[False]):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_every_epoch_and_every_fit_gets_its_own_order(moons):
    model = _model(moons)
    x = np.arange(290, dtype=np.float32)[:, None].repeat(2, 1)  # row i holds i: the data show the order
    y = (np.arange(290) % 2).astype(np.int32)
    model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)  # fit call 1

    def epochs(shuffle, n=2):  # the rows of each batch of the first n epochs
        it = iter(model._shuffled_data(x, y, None, 30, shuffle))
        return [[next(it)[0].numpy()[:, 0].astype(int) for _ in range(10)] for _ in range(n)]

    e0, e1 = [np.concatenate(e) for e in epochs(True)]
    assert sorted(e0) == list(range(290)) and sorted(e1) == list(range(290))  # each epoch: every row once
    assert not np.array_equal(e0, e1)
    np.testing.assert_array_equal(np.concatenate(epochs(True, 1)[0]), e0)  # reproducible
    batches, = epochs("batch", 1)  # whole batches (the short one too), in a new order
    starts = [int(b[0]) for b in batches]
    for b in batches:
        np.testing.assert_array_equal(b, np.arange(b[0], min(b[0] + 30, 290)))
    assert sorted(starts) == list(range(0, 290, 30)) and starts != sorted(starts)
    model.fit(x, y, batch_size=30, epochs=1, verbose=0, shuffle=False)  # fit call 2: new orders
    assert not np.array_equal(np.concatenate(epochs(True, 1)[0]), e0)


# ---------------------------------------------------------------------------------------------- item 7

def _fit_state(model):
    hp = model._hp
    return {"pool": {k: v.numpy().copy() for k, v in model._pool.items()}, "chunk": model._chunk,
            "samples": hp.epoch_samples.numpy().copy(), "train_function": model.train_function,
            "fused": model._fused, "fit_count": model._fit_count,
            "counters": [int(v.numpy()) for v in (hp.step, hp.steps_per_epoch, hp.start_epoch)],
            "weights": model.get_weights(), "iterations": int(model.optimizer.iterations.numpy())}


class Rows(tuple):
    """Rows a..b of the training split's x or y."""


BAD_FITS = {
    "y-longer-than-x": (dict(y=Rows(("y", 300, 610))), r"x and y must have the same number of rows; got 300 rows "
                                                       r"in x and 310 labels in y"),
    "y-shorter-than-x": (dict(y=Rows(("y", 300, 590))), r"x and y .* 300 rows in x and 290 labels in y"),
    "x-wrong-width": (dict(x=np.zeros((300, 3), np.float32)), r"x must have 2 features"),
    "x-not-finite": (dict(x=np.full((300, 2), np.nan, np.float32)), r"x contains NaN"),
    "labels-out-of-range": (dict(y=np.full(300, 5)), r"y must be class indices in \[0, 1\]"),
    "sample-weight-length": (dict(sample_weight=np.ones(299)), r"sample_weight must have one entry per row of x"),
    "validation-data-lengths": (dict(validation_data=(np.zeros((50, 2)), np.zeros(40))),
                                r"validation_data's y must have one entry per row of its x"),
    "validation-split": (dict(validation_split=1.0), r"validation_split must be a fraction in \[0, 1\)"),
    "n-ce-above-pool": (dict(x=Rows(("x", 300, 350)), y=Rows(("y", 300, 350))),
                        r"n_ce=100 exceeds the training size \(50\)"),
    "fuse-impossible": (dict(x=Rows(("x", 300, 590)), y=Rows(("y", 300, 590)), fuse_epochs=True),
                        r"290 rows do not split into batches of 30"),
    "epochs": (dict(epochs=-1), r"epochs must be an integer >= 0"),
    "batch-size": (dict(batch_size=0), r"batch_size must be an integer >= 1"),
    "shuffle": (dict(shuffle="yes"), r"shuffle must be True, False or 'batch'"),
}


@pytest.fixture(scope="module")
def fitted(moons):
    """One trained model for every case below: each case snapshots its state first, and a failing fit must
    leave it exactly so, so the cases can share it (and a case that changed it fails on its own snapshot)."""
    model = _model(moons)
    model.fit(moons.x_train[:300], moons.y_train[:300], batch_size=30, epochs=2, verbose=0)
    return model


@pytest.mark.parametrize("case", sorted(BAD_FITS))
def test_a_failing_fit_leaves_the_model_as_it_was(moons, fitted, case):
    changes, match = BAD_FITS[case]
    model = fitted
    before = _fit_state(model)
    args = dict(x=moons.x_train[300:600], y=moons.y_train[300:600], batch_size=30, epochs=1, verbose=0)
    for k, v in changes.items():
        args[k] = getattr(moons, f"{v[0]}_train")[v[1]:v[2]] if isinstance(v, Rows) else v
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(**args)
    after = _fit_state(model)
    assert after["pool"].keys() == before["pool"].keys()
    for k in before["pool"]:
        np.testing.assert_array_equal(after["pool"][k], before["pool"][k], err_msg=k)
    np.testing.assert_array_equal(after["samples"], before["samples"])
    assert after["train_function"] is before["train_function"]
    for k in ("chunk", "fused", "fit_count", "counters", "iterations"):
        assert after[k] == before[k], k
    for a, b in zip(after["weights"], before["weights"]):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------- item 10

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _printed_lines(fn):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    text = _ANSI.sub("", buf.getvalue()).replace("\b", "")
    return [ln for ln in re.split(r"[\r\n]", text) if ln.strip()]


def _check_counters(lines, total):
    counters = [tuple(int(g) for g in m.groups()) for ln in lines for m in [re.match(r"\s*(\d+)/(\d+) ", ln)] if m]
    assert counters, lines
    assert all(n == total and 1 <= k <= n for k, n in counters), counters
    assert all(ln.count("━") <= 30 for ln in lines), [len(ln) for ln in lines]


@pytest.fixture(scope="module")
def readme_model(moons):
    """The README's first example: XLA and steps_per_execution=100."""
    clf = cftkit.build_classifier(2, 2, seed=0)
    model = cftkit.CounterfactualModel(clf, constraints=moons.constraints, n_ce=100)
    model.compile(metrics=["accuracy"], jit_compile=True, steps_per_execution=100)
    return model


@pytest.mark.parametrize("rows, batch_size, total", [(5, None, 1), (250, None, 8), (250, 2, 125)])
@pytest.mark.parametrize("verbose", [1, "auto"])
@pytest.mark.parametrize("method", ["predict", "evaluate"])
def test_predict_and_evaluate_bars_fit_on_a_line(moons, readme_model, method, verbose, rows, batch_size, total):
    x, y = moons.x_test[:rows], moons.y_test[:rows]
    if method == "predict":
        lines = _printed_lines(lambda: readme_model.predict(x, batch_size=batch_size, verbose=verbose))
    else:
        lines = _printed_lines(lambda: readme_model.evaluate(x, y, batch_size=batch_size, verbose=verbose))
    assert max(len(ln) for ln in lines) <= 120, [len(ln) for ln in lines]
    _check_counters(lines, total)


@pytest.mark.parametrize("rows, total, fused", [(300, 1, True), (290, 10, False)])
def test_fit_bars_count_no_further_than_the_epoch(moons, readme_model, rows, total, fused):
    """Fused epochs count one step per epoch; Keras' loop counts batches."""
    lines = _printed_lines(lambda: readme_model.fit(moons.x_train[:rows], moons.y_train[:rows], batch_size=30,
                                                    epochs=2, verbose=1, shuffle=False))
    assert (readme_model._fused is not None) is fused
    assert [ln for ln in lines if ln.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
    _check_counters([ln for ln in lines if not ln.startswith("Epoch")], total)
