"""Scale-out with TensorFlow's own engine: MultiWorkerMirroredStrategy on loopback; mixed precision."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cftkit
import keras

WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np, tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras, cftkit
    ds = cftkit.datasets.load("circles")
    x, y = ds.x_train[:240], ds.y_train[:240]
    with strategy.scope():
        keras.utils.set_random_seed(5)
        clf = cftkit.build_classifier(2, 2, seed=5)
        model = cftkit.CounterfactualModel(clf, constraints=ds.constraints, n_ce=80, threshold=0.5)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(30)
    model.set_training_pool(x, y)
    h = model.fit(data, epochs=3, verbose=0)
    print("RESULT" + json.dumps({"replicas": strategy.num_replicas_in_sync,
                                 "weights": [w.tolist() for w in model.classifier.get_weights()],
                                 "maturity": h.history["ct_maturity"], "loss": h.history["loss"]}))
""")


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_workers_on_loopback(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env, cwd=tmp_path))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=600)
            assert p.returncode == 0, err[-3000:]
            outs.append(json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT")][-1][6:]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert outs[0]["replicas"] == 2 and outs[1]["replicas"] == 2
    for a, b in zip(outs[0]["weights"], outs[1]["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))  # workers end with identical weights
    assert np.all(np.isfinite(outs[0]["loss"])) and outs[0]["maturity"][-1] > 0


@pytest.mark.parametrize("fused", [False, True], ids=["keras-loop", "fused-xla-epochs"])
def test_mixed_precision_trains_with_loss_scaling(fused):
    ds = cftkit.datasets.load("circles")
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        clf = cftkit.build_classifier(2, 2, seed=0)
        assert clf.layers[0].compute_dtype == "float16" and clf.layers[-1].compute_dtype == "float32"
        model = cftkit.CounterfactualModel(clf, constraints=ds.constraints, n_ce=200, threshold=0.5, lambda_reg=0.5)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"],
                      **(dict(jit_compile=True, steps_per_execution=20) if fused else {}))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        h = model.fit(ds.x_train[:600], ds.y_train[:600], batch_size=30, epochs=3, verbose=0)
        assert (model._fused is not None) is fused
        assert np.all(np.isfinite(h.history["loss"]))
        assert h.history["ct_maturity"][-1] > 0.5 and h.history["ct_reg"][-1] > 0
        acc = (model.predict(ds.x_test, verbose=0).argmax(1) == ds.y_test).mean()
        assert acc > 0.9
    finally:
        keras.mixed_precision.set_global_policy("float32")
