"""``cftkit bench``: the speed figures P1–P4, printed as a table and written as JSON.

* P1 — one full-protocol CT model on Moons (paper preset: 3000+600 points, batch 30, 100 epochs,
  n_CE 1000, T 30) and the same BL: wall time, CPU time, peak RSS, CT/BL ratio.  Each model trains
  in a fresh subprocess so that peak RSS and compile time are the model's own.
* P2 — test-time search throughput (counterfactuals per second) for 1000 factuals, ECCCo, T = 50
  with every step run (τ unreachable), on the 2-32-2 MLP and on the MNIST MLP; graph vs XLA.
* P3 — the full synthetic evaluation protocol (100 runs × 1250 counterfactuals per model, IP and
  IP*) for two models: wall time.
* P4 — peer baselines on the same model and factuals: DiCE (``pip install 'cftkit[bench]'``) with
  its ``genetic``, ``random`` and TF2 ``gradient`` methods, and a naive per-instance eager
  ``GradientTape`` loop; speed-ups of cftkit's batched XLA search over each.

Every figure is stored with its unit: ``{"p1_ct_wall_s": {"value": 7.9, "unit": "s"}, ...}``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

KEYS = {
    "p1_ct_wall_s": "s", "p1_ct_cpu_s": "s", "p1_ct_peak_rss_mb": "MB", "p1_ct_accuracy": "1",
    "p1_bl_wall_s": "s", "p1_bl_cpu_s": "s", "p1_bl_peak_rss_mb": "MB", "p1_bl_accuracy": "1", "p1_ratio": "x",
    "p1_epochs": "epochs", "p1_fused_epochs": "bool",
    "p2_ces_per_s": "CE/s", "p2_graph_ces_per_s": "CE/s", "p2_xla_ces_per_s": "CE/s",
    "p2_mnist_graph_ces_per_s": "CE/s", "p2_mnist_xla_ces_per_s": "CE/s", "p2_steps_run": "steps",
    "p3_eval_wall_s": "s", "p3_counterfactuals": "CEs",
    "p4_naive_ces_per_s": "CE/s", "p4_dice_random_ces_per_s": "CE/s", "p4_dice_genetic_ces_per_s": "CE/s",
    "p4_dice_gradient_ces_per_s": "CE/s", "p4_speedup_vs_naive": "x", "p4_speedup_vs_dice": "x",
    "p4_fastest_dice_method": "name",
}

_P1_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter(); c0 = time.process_time()
import cftkit
from cftkit import experiments, presets, datasets
from cftkit.evaluation import metrics
objective, epochs = sys.argv[1], int(sys.argv[2])
ds = datasets.load("moons")
p = presets.get("moons")
model, fit_s = experiments.train_model(ds, p, objective, seed=0, epochs=epochs)
out = {"fit_wall_s": fit_s, "process_wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "accuracy": metrics.accuracy(model, ds.x_test, ds.y_test), "fused": model._fused is not None}
print("P1JSON" + json.dumps(out))
"""


def _figure(results: dict, key: str, value) -> None:
    results[key] = {"value": value, "unit": KEYS[key]}


def device_line() -> dict:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {"device": "GPU" if gpus else "CPU", "gpus": [g.name for g in gpus], "tensorflow": tf.__version__,
            "python": platform.python_version(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}


def p1(results: dict, *, epochs: int = 100) -> None:
    """Train BL and CT (paper preset) in fresh processes; wall/CPU time and peak RSS each."""
    env = dict(os.environ)
    runs = {}
    for objective in ("vanilla", "full"):
        proc = subprocess.run([sys.executable, "-c", _P1_CHILD, objective, str(epochs)], capture_output=True,
                              text=True, env=env, timeout=3600)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("P1JSON")]
        if proc.returncode != 0 or not line:
            raise RuntimeError(f"P1 child ({objective}) failed:\n{proc.stderr[-2000:]}")
        runs[objective] = json.loads(line[-1][6:])
    for tag, objective in (("bl", "vanilla"), ("ct", "full")):
        r = runs[objective]
        _figure(results, f"p1_{tag}_wall_s", r["fit_wall_s"])
        _figure(results, f"p1_{tag}_cpu_s", r["cpu_s"])
        _figure(results, f"p1_{tag}_peak_rss_mb", r["peak_rss_mb"])
        _figure(results, f"p1_{tag}_accuracy", r["accuracy"])
    _figure(results, "p1_ratio", runs["full"]["fit_wall_s"] / runs["vanilla"]["fit_wall_s"])
    _figure(results, "p1_epochs", epochs)
    _figure(results, "p1_fused_epochs", bool(runs["full"]["fused"] and runs["vanilla"]["fused"]))


def _throughput(model, x, targets, *, jit: bool, repeats: int, max_steps: int = 50):
    from .search import search

    kw = dict(generator="eccco", max_steps=max_steps, threshold=1.0 - 1e-7, cost_weight=0.0, energy_weight=1.0,
              jit_compile=jit)
    res = search(model, x, targets, **kw)  # compile / trace
    t0 = time.perf_counter()
    for _ in range(repeats):
        res = search(model, x, targets, **kw)
    dt = (time.perf_counter() - t0) / repeats
    return len(x) / dt, float(res.steps.mean())


def _moons_model(epochs: int = 5):
    import keras

    from . import datasets, training

    ds = datasets.load("moons")
    keras.utils.set_random_seed(0)
    clf = training.build_classifier(2, 2, seed=0)
    clf.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit(ds.x_train, ds.y_train, batch_size=30, epochs=epochs, verbose=0)
    return ds, clf


def p2(results: dict, *, quick: bool = False) -> None:
    """Search throughput: 1000 factuals, ECCCo, T = 50 (all steps run), graph vs XLA."""
    from . import training

    ds, clf = _moons_model(2 if quick else 5)
    x = ds.x_test[np.arange(1000) % len(ds.x_test)]
    targets = 1 - clf.predict(x, verbose=0).argmax(1)
    repeats = 2 if quick else 10
    graph, steps = _throughput(clf, x, targets, jit=False, repeats=repeats)
    xla, steps_x = _throughput(clf, x, targets, jit=True, repeats=repeats)
    _figure(results, "p2_graph_ces_per_s", graph)
    _figure(results, "p2_xla_ces_per_s", xla)
    _figure(results, "p2_ces_per_s", max(graph, xla))
    _figure(results, "p2_steps_run", min(steps, steps_x))
    rng = np.random.default_rng(0)
    mnist = training.build_classifier(784, 10, seed=0)  # the paper's MNIST MLP (784-32-10)
    xm = rng.uniform(-1, 1, (1000, 784)).astype(np.float32)
    tm = (mnist.predict(xm, verbose=0).argmax(1) + 1) % 10
    g, _ = _throughput(mnist, xm, tm, jit=False, repeats=max(1, repeats // 2))
    xl, _ = _throughput(mnist, xm, tm, jit=True, repeats=max(1, repeats // 2))
    _figure(results, "p2_mnist_graph_ces_per_s", g)
    _figure(results, "p2_mnist_xla_ces_per_s", xl)


def p3(results: dict, *, quick: bool = False) -> None:
    """The full synthetic evaluation protocol (100 runs × 250 individuals × 5 λ_egy, 2 models)."""
    import keras

    from .evaluation import protocol
    from . import training

    ds, bl = _moons_model(2 if quick else 5)
    keras.utils.set_random_seed(1)
    ct = training.build_classifier(2, 2, seed=1)
    ct.set_weights([w * 1.1 for w in bl.get_weights()])
    runs = 10 if quick else 100
    c = ds.constraints.unconstrained_mutability().expanded_to(ds.x_test)
    protocol.evaluate_counterfactuals({"CT": ct, "BL": bl}, ds, n_runs=2, n_individuals=10, constraints=c)  # warm-up
    t0 = time.perf_counter()
    res = protocol.evaluate_counterfactuals({"CT": ct, "BL": bl}, ds, n_runs=runs, n_individuals=250, constraints=c,
                                            keep_counterfactuals=False)
    _figure(results, "p3_eval_wall_s", time.perf_counter() - t0)
    _figure(results, "p3_counterfactuals", int(len(res.records["run"])))


def naive_search(model, x, targets, *, max_steps=50, learning_rate=0.1, energy_weight=1.0, threshold=1.0 - 1e-7):
    """A per-instance eager GradientTape loop (the straightforward way) for comparison in P4."""
    import tensorflow as tf

    from .generators import energy, energy_decay

    out = []
    for xi, ti in zip(x, targets):
        z = tf.Variable(xi[None, :])
        onehot = tf.one_hot([ti], model.output_shape[-1])
        for t in range(max_steps):
            with tf.GradientTape() as tape:
                logits = model(z, training=False)
                loss = tf.nn.softmax_cross_entropy_with_logits(onehot, logits) + energy_weight * energy_decay(
                    t, max_steps) * (energy(logits, onehot) + 1e-3 * tf.square(energy(logits, onehot)))
            if float(tf.nn.softmax(logits)[0, ti]) >= threshold:
                break
            z.assign_sub(learning_rate * tape.gradient(loss, z))
        out.append(z.numpy()[0])
    return np.array(out)


def p4(results: dict, *, quick: bool = False, dice: bool = True) -> None:
    """Peer baselines: DiCE (genetic, random, gradient) and a naive eager loop, vs cftkit (XLA)."""
    ds, clf = _moons_model(2 if quick else 5)
    n = 5 if quick else 20
    x = ds.x_test[:n]
    targets = 1 - clf.predict(x, verbose=0).argmax(1)
    ours = results.get("p2_xla_ces_per_s", {}).get("value")
    if ours is None:
        ours, _ = _throughput(clf, ds.x_test[np.arange(1000) % len(ds.x_test)],
                              1 - clf.predict(ds.x_test[np.arange(1000) % len(ds.x_test)], verbose=0).argmax(1),
                              jit=True, repeats=3)
    t0 = time.perf_counter()
    naive_search(clf, x[: max(2, n // 4)], targets[: max(2, n // 4)])
    naive = max(2, n // 4) / (time.perf_counter() - t0)
    _figure(results, "p4_naive_ces_per_s", naive)
    _figure(results, "p4_speedup_vs_naive", ours / naive)
    speeds = {}
    if dice:
        speeds = dice_speeds(clf, ds, x, targets, quick=quick)
    for method in ("random", "genetic", "gradient"):
        _figure(results, f"p4_dice_{method}_ces_per_s", speeds.get(method))
    valid = {k: v for k, v in speeds.items() if v}
    if valid:
        best = max(valid, key=valid.get)
        _figure(results, "p4_fastest_dice_method", best)
        _figure(results, "p4_speedup_vs_dice", ours / valid[best])
    else:
        _figure(results, "p4_fastest_dice_method", None)
        _figure(results, "p4_speedup_vs_dice", None)


def dice_speeds(clf, ds, x, targets, *, quick: bool) -> dict:
    """Counterfactuals per second of DiCE's methods on the same model and factuals."""
    try:
        import dice_ml
        import pandas as pd
    except ImportError:
        print("P4: dice-ml is not installed (pip install 'cftkit[bench]'); DiCE figures are skipped",
              file=sys.stderr)
        return {}
    import keras

    names = list(ds.feature_names)
    frame = pd.DataFrame(ds.x_train.astype(np.float64), columns=names)
    frame["y"] = ds.y_train
    data = dice_ml.Data(dataframe=frame, continuous_features=names, outcome_name="y")

    class SklearnLike:  # DiCE's sklearn interface: predict_proba on a DataFrame
        def predict_proba(self, df):
            return keras.ops.convert_to_numpy(keras.ops.softmax(clf(np.asarray(df[names], np.float32))))

        def predict(self, df):
            return self.predict_proba(df).argmax(1)

    speeds = {}
    query = pd.DataFrame(np.asarray(x, np.float64), columns=names)
    for method in ("random", "genetic"):
        model = dice_ml.Model(model=SklearnLike(), backend="sklearn")
        exp = dice_ml.Dice(data, model, method=method)
        # DiCE's random method can take a minute or more per factual: time it on a few
        q = query.iloc[:1] if quick else (query.iloc[:5] if method == "random" else query)
        extra = {"random_seed": 0} if method == "random" else {}
        t0 = time.perf_counter()
        exp.generate_counterfactuals(q, total_CFs=1, desired_class="opposite", verbose=False, **extra)
        speeds[method] = len(q) / (time.perf_counter() - t0)
    if not quick:
        prob_model = keras.Sequential([clf, keras.layers.Softmax()])
        model = dice_ml.Model(model=prob_model, backend="TF2")
        exp = dice_ml.Dice(data, model, method="gradient")
        q = query.iloc[:1]
        t0 = time.perf_counter()
        try:
            exp.generate_counterfactuals(q, total_CFs=1, desired_class="opposite", verbose=False)
            speeds["gradient"] = len(q) / (time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            print(f"P4: DiCE gradient failed: {exc}", file=sys.stderr)
    return speeds


def run(*, quick: bool = False, only=None, dice: bool = True, json_path: str | None = None) -> dict:
    parts = {"p1", "p2", "p3", "p4"} if only is None else set(only)
    results = {"device": device_line(), "quick": quick}
    t0 = time.perf_counter()
    if "p1" in parts:
        p1(results, epochs=5 if quick else 100)
    if "p2" in parts:
        p2(results, quick=quick)
    if "p3" in parts:
        p3(results, quick=quick)
    if "p4" in parts:
        p4(results, quick=quick, dice=dice)
    results["total_wall_s"] = time.perf_counter() - t0
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
    return results


def format_table(results: dict) -> str:
    dev = results["device"]
    lines = [f"device: {dev['device']} {dev['gpus'] or ''} | TensorFlow {dev['tensorflow']} | "
             f"{dev['cpu_count']} CPUs | intra/inter-op threads {dev['intra_op_threads']}/{dev['inter_op_threads']}"
             f"{' | QUICK' if results.get('quick') else ''}", "", "| figure | value | unit |", "|---|---|---|"]
    for key in KEYS:
        if key in results:
            v = results[key]["value"]
            shown = f"{v:,.3f}" if isinstance(v, float) else str(v)
            lines.append(f"| {key} | {shown} | {results[key]['unit']} |")
    return "\n".join(lines)


def main(args) -> int:
    only = None if args.only is None else [s.strip().lower() for s in args.only.split(",") if s.strip()]
    bad = set(only or ()) - {"p1", "p2", "p3", "p4"}
    if bad:
        raise SystemExit(f"cftkit bench: unknown --only part(s) {sorted(bad)}; expected p1, p2, p3, p4")
    results = run(quick=args.quick, only=only, dice=not args.no_dice, json_path=args.json)
    print(format_table(results))
    return 0
