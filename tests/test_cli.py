"""`cftkit reproduce` and `cftkit bench`: outputs have every field (smoke tests, not speed)."""

import json

import numpy as np
import pytest

from cftkit import bench, cli


def test_reproduce_quick_writes_results(tmp_path, capsys):
    out = tmp_path / "circles"
    rc = cli.main(["reproduce", "--dataset", "circles", "--quick", "--runs", "3", "--epochs", "2",
                   "--individuals", "10", "--out", str(out), "--no-progress"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["dataset"] == "circles" and res["wall_time_s"] > 0
    proto = res["protocol"]
    assert proto["runs"] == 3 and proto["epochs"] == 2 and proto["threshold"] == 0.5 and proto["lambda_reg"] == 0.5
    for key, paper in (("ip", 58.88), ("ip_star_0.5", 93.84), ("ip_star_5.0", 93.84), ("cost", 42.99)):
        cell = res[key]
        for field in ("bl_mean", "ct_mean", "reduction_pct", "reduction_sd", "significant"):
            assert field in cell, (key, field)
        assert isinstance(cell["significant"], bool)
        assert cell["paper_v3"]["reduction_pct"] == paper
        if cell["bl_mean"] and cell["ct_mean"]:  # the reduction is computed from the per-run means
            assert cell["reduction_pct"] < 100
    for group in ("accuracy", "validity"):
        assert 0 <= res[group]["bl"] <= 1 and 0 <= res[group]["ct"] <= 1
    md = (out / "results.md").read_text()
    assert "58.88±0.37* (BL 2.36, CT 0.97)" in md and "ip_star_5.0" in md  # the paper's levels beside its reduction
    assert res["ip_star_0.5"]["paper_v3"].keys() == {"reduction_pct", "reduction_sd", "significant"}  # no ℓ = 0.5 levels
    assert res["cost"]["paper_v3"]["bl_mean"] == 1.22 and res["ip_star_5.0"]["paper_v3"]["ct_mean"] == 0.0
    for key in ("ip", "ip_star_0.5", "ip_star_5.0", "cost"):
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {key} |"))
        cell = line.split("|")[5].strip()
        up = res[key]["significant_increases"]
        assert cell == f"{res[key]['significant_reductions']}/1" + (f", {up}↑" if up else ""), (key, cell)
    assert (out / "circles_bl_vs_ct.png").stat().st_size > 10_000
    assert (out / "circles_robust_accuracy.png").stat().st_size > 5_000
    seed0 = res["seeds"][0]
    ct_log = seed0["final_epoch"]["ct"]
    assert 0 <= ct_log["ct_maturity"] <= 1 and 0 <= ct_log["ct_search_steps"] <= proto["max_steps"]
    assert ct_log["ct_reg"] > 0
    total = sum(proto[f"lambda_{t}"] * ct_log[f"ct_{t}"] for t in ("clf", "div", "reg", "adv"))
    assert ct_log["loss"] == pytest.approx(total, rel=1e-4)  # the epoch means of the CT objective's terms
    bl_log = seed0["final_epoch"]["bl"]
    assert bl_log["ct_reg"] == bl_log["ct_div"] == bl_log["ct_search_steps"] == 0  # BL runs no search
    assert set(seed0["search_steps"]) == {"bl", "ct"}
    assert all(0 <= v <= proto["test_max_steps"] for v in seed0["search_steps"].values())
    assert set(seed0["acc_star"]) == {"fgsm", "pgd"} and 0 <= seed0["acc_star"]["fgsm"]["ct"] <= 1
    assert "| ip |" in capsys.readouterr().out


def test_reproduce_unknown_dataset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["reproduce", "--dataset", "mars", "--quick"])
    assert info.value.code == 2  # argparse's usage error, before anything is loaded or trained
    err = capsys.readouterr().err
    assert err.startswith("usage: cftkit reproduce")
    assert "argument --dataset: unknown dataset 'mars'" in err and "moons" in err and "all-synthetic" in err
    assert "preset" not in err


def test_reproduce_dataset_aliases_and_groups_parse():
    args = cli.build_parser().parse_args(["reproduce", "--dataset", "all-synthetic"])
    assert args.dataset == ["linearly_separable", "circles", "moons", "overlapping"]
    assert cli.build_parser().parse_args(["reproduce", "--dataset", "moons"]).dataset == ["moons"]


@pytest.mark.parametrize("flag, value", [("--seeds", "0"), ("--runs", "0"), ("--epochs", "0"), ("--individuals", "0"),
                                         ("--seed", "-1"), ("--data-seed", "x")])
def test_reproduce_rejects_bad_numbers_as_usage_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["reproduce", "--dataset", "moons", "--quick", flag, value])
    assert info.value.code == 2  # argparse's usage error, before anything is trained
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "expected an integer >=" in err


def test_reproduce_api_rejects_bad_settings_instead_of_replacing_them():
    from cftkit import experiments

    for kwargs, exc, match in [(dict(runs=0), ValueError, "runs must be an integer >= 1"),
                               (dict(epochs=0, quick=True), ValueError, "epochs must be an integer >= 1"),
                               (dict(individuals=0), ValueError, "individuals must be an integer >= 1"),
                               (dict(seeds=[]), ValueError, "seeds must name at least one"),
                               (dict(seeds=3), TypeError, "seeds must be a list"),
                               (dict(seeds=[-1]), ValueError, "seeds must be an integer >= 0"),
                               (dict(data_seed=-2), ValueError, "data_seed must be an integer >= 0")]:
        with pytest.raises(exc, match=match):
            experiments.reproduce("moons", progress=False, **kwargs)

def test_bench_quick_json_has_every_field(tmp_path):
    path = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--no-dice", "--json", str(path)]) == 0
    res = json.loads(path.read_text())
    assert res["device"]["device"] in ("CPU", "GPU") and res["device"]["tensorflow"]
    for key, unit in bench.KEYS.items():
        assert key in res, key
        assert res[key]["unit"] == unit
    for key in ("p1_ct_wall_s", "p1_bl_wall_s", "p1_ratio", "p2_ces_per_s", "p3_eval_wall_s", "p4_naive_ces_per_s"):
        assert res[key]["value"] > 0, key
    assert res["p2_steps_run"]["value"] == 50  # τ unreachable: every step runs
    assert res["p1_fused_epochs"]["value"] is True  # the preset's arrays run as one program per epoch
    assert res["p3_counterfactuals"]["value"] == 2 * 10 * 250 * 5


def test_bench_rejects_unknown_part():
    with pytest.raises(SystemExit, match="unknown --only"):
        cli.main(["bench", "--only", "p9"])


def test_naive_loop_matches_batched_search():
    import keras

    import cftkit

    keras.utils.set_random_seed(0)
    clf = cftkit.build_classifier(2, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    t = 1 - clf.predict(x, verbose=0).argmax(1)
    naive = bench.naive_search(clf, x, t, max_steps=10, threshold=0.999)
    res = cftkit.search(clf, x, t, max_steps=10, threshold=0.999, cost_weight=0.0, energy_weight=1.0)
    np.testing.assert_allclose(naive, res.counterfactual, atol=1e-5)


def test_aggregate_counts_significant_reductions_separately():
    from cftkit import experiments

    def seed(i, pct, sig):
        cell = {"reduction_pct": pct, "reduction_sd": 1.0, "significant": sig, "bl_mean": 1.0,
                "ct_mean": 1 - pct / 100, "paper_v3": None}
        return {"seed": i, **{k: dict(cell) for k in experiments.TABLE_METRICS},
                "accuracy": {"bl": 1.0, "ct": 1.0, "ct_protected": 1.0},
                "validity": {"bl": 0.5 + i / 10, "ct": 1.0, "bl_constrained": 0.5, "ct_constrained": 0.7}}

    per_seed = [seed(0, -30.0, True), seed(1, 20.0, True), seed(2, 5.0, False)]
    per_seed[1]["search_steps"] = {"bl": 9.44, "ct": 1.25}
    agg = experiments.aggregate(per_seed)
    ip = agg["ip"]
    assert ip["significant_seeds"] == 2 and ip["significant_reductions"] == 1 and ip["significant_increases"] == 1
    assert ip["significant"] is False
    assert ip["per_seed_pct"] == [-30.0, 20.0, 5.0]
    assert ip["min"] == -30.0 and ip["max"] == 20.0 and abs(ip["reduction_pct"] + 5 / 3) < 1e-9
    assert ip["median"] == 5.0

    # several seeds: results.md gets one row per seed and the median under the main table
    md = experiments.markdown_table({"dataset": "circles", "seeds": per_seed, "protocol": {"runs": 100},
                                     "wall_time_s": 1.0, **agg})
    rows = [ln for ln in md.splitlines() if ln.startswith("| 0 |") or ln.startswith("| 1 |")
            or ln.startswith("| 2 |") or ln.startswith("| median |")]
    assert rows == ["| 0 | -30.0* | -30.0* | -30.0* | -30.0* | 1 / 1.3 | 0.50 / 1.00 | — |",
                    "| 1 | 20.0* | 20.0* | 20.0* | 20.0* | 1 / 0.8 | 0.60 / 1.00 | 9.4 / 1.2 |",
                    "| 2 | 5.0 | 5.0 | 5.0 | 5.0 | 1 / 0.95 | 0.70 / 1.00 | — |",
                    "| median | 5.0 | 5.0 | 5.0 | 5.0 | | | |"]
    assert "1/3, 1↑" in md
    one = experiments.markdown_table({"dataset": "circles", "seeds": per_seed[:1], "protocol": {"runs": 100},
                                      "wall_time_s": 1.0, **experiments.aggregate(per_seed[:1])})
    assert "| median |" not in one and "Per seed" not in one


def test_reproduce_set_changes_the_preset_and_is_recorded(tmp_path):
    # the reference code's schedule and another λ_reg through the command line
    out = tmp_path / "ls"
    rc = cli.main(["reproduce", "--dataset", "linearly_separable", "--quick", "--runs", "2", "--epochs", "1",
                   "--individuals", "5", "--no-robustness", "--no-progress", "--out", str(out),
                   "--set", "schedule=epoch", "--set", "lambda_reg=0.3"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    proto = res["protocol"]
    assert proto["overrides"] == {"schedule": "epoch", "lambda_reg": 0.3}
    assert proto["schedule"] == "epoch" and proto["lambda_reg"] == 0.3 and proto["threshold"] == 0.5
    ct_log = res["seeds"][0]["final_epoch"]["ct"]
    total = sum(proto[f"lambda_{t}"] * ct_log[f"ct_{t}"] for t in ("clf", "div", "reg", "adv"))
    assert ct_log["loss"] == pytest.approx(total, rel=1e-4)  # the model trained with λ_reg = 0.3
    md = (out / "results.md").read_text()
    assert "Preset changed: schedule = 'epoch', lambda_reg = 0.3" in md and "26.26±0.67*" in md


def test_reproduce_overrides_the_model_it_trains():
    from cftkit import experiments, presets, datasets

    p = presets.get("linearly_separable").replace(schedule="epoch", lambda_reg=0.3, epochs=1)
    model, _ = experiments.train_model(datasets.load("linearly_separable"), p, "full")
    cfg = model.get_config()
    assert cfg["schedule"] == "epoch" and cfg["lambda_reg"] == pytest.approx(0.3)


@pytest.mark.parametrize("value, message", [("bogus=1", "unknown preset setting 'bogus'"),
                                            ("lambda_reg=-1", "lambda_reg"),
                                            ("lambda_reg=x", "expects a number"),
                                            ("schedule=daily", "schedule must be one of"),
                                            ("dataset=moons", "unknown preset setting 'dataset'"),
                                            ("lambda_reg", "KEY=VALUE")])
def test_reproduce_set_rejects_bad_settings_as_usage_errors(value, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["reproduce", "--dataset", "moons", "--quick", "--set", value])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_reproduce_overrides_argument_is_checked():
    from cftkit import experiments

    with pytest.raises(ValueError, match="unknown preset setting"):
        experiments.reproduce("moons", overrides={"lamda_reg": 0.3}, progress=False)
    with pytest.raises(TypeError, match="overrides must be a dict"):
        experiments.reproduce("moons", overrides=[("lambda_reg", 0.3)], progress=False)


def test_run_seed_rejects_another_datasets_preset():
    from cftkit import experiments, presets

    with pytest.raises(ValueError, match="preset is the 'moons' preset, but the dataset is 'circles'"):
        experiments.run_seed("circles", preset=presets.get("moons"))
    with pytest.raises(TypeError, match="preset must be a cftkit.presets.Preset"):
        experiments.run_seed("circles", preset={"lambda_reg": 0.3})


def test_parse_override_converts_and_checks_values():
    from cftkit import presets

    assert presets.parse_override(" threshold = 0.75 ") == ("threshold", 0.75)
    assert presets.parse_override("shuffle=batch") == ("shuffle", "batch")
    with pytest.raises(ValueError, match="threshold"):
        presets.parse_override("threshold=1.5")  # range-checked as the preset checks it
    with pytest.raises(ValueError, match="comma-separated integers"):
        presets.parse_override("hidden=32,x")
