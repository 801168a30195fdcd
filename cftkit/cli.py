"""``cftkit`` console script: ``cftkit reproduce`` (the paper's tables) and ``cftkit bench``.

Examples::

    cftkit reproduce --dataset moons --quick --out results/moons
    cftkit reproduce --dataset all-synthetic --seeds 3 --out results/synthetic
    cftkit reproduce --dataset linearly_separable --seeds 10 --set schedule=epoch --no-robustness
"""

from __future__ import annotations

import argparse
import os
import sys

GROUPS = {
    "all-synthetic": ("linearly_separable", "circles", "moons", "overlapping"),
    "all-real": ("adult", "california_housing", "credit_default", "gmsc", "mnist"),
}
GROUPS["all"] = GROUPS["all-synthetic"] + GROUPS["all-real"]


def _dataset_arg(text: str) -> list:
    """argparse type for ``--dataset``: a group name or a dataset with a paper preset (a usage error
    naming the datasets otherwise)."""
    from . import presets

    if text in GROUPS:
        return list(GROUPS[text])
    try:
        return [presets.get(text).dataset]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {text!r}; expected one of {', '.join(sorted(presets.PRESETS))} "
            f"or a group: {', '.join(sorted(GROUPS))}") from None


def _int_at_least(minimum: int):
    """argparse type: an integer >= ``minimum`` (so a bad value is a usage error, not a traceback)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {value}")
        return value
    return parse


def _override(text: str) -> tuple:
    """argparse type for ``--set KEY=VALUE`` (a bad key or value is a usage error naming it)."""
    from . import presets

    try:
        return presets.parse_override(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _reproduce(args) -> int:
    from . import experiments

    names = args.dataset
    overrides = dict(args.set or [])
    seeds = [args.seed + i for i in range(args.seeds)]
    results = []
    for name in names:
        out = None if args.out is None else (args.out if len(names) == 1 else os.path.join(args.out, name))
        res = experiments.reproduce(name, seeds=seeds, runs=args.runs, individuals=args.individuals,
                                    epochs=args.epochs, quick=args.quick, data_seed=args.data_seed, out=out,
                                    progress=not args.no_progress, jit_compile=not args.no_jit,
                                    robustness=not args.no_robustness, overrides=overrides)
        results.append(res)
        print(experiments.markdown_table(res), flush=True)
        print(flush=True)
    if args.out is not None and len(names) > 1:
        with open(os.path.join(args.out, "results.md"), "w") as f:
            f.write("\n\n".join(experiments.markdown_table(r) for r in results) + "\n")
    return 0


def _bench(args) -> int:
    from . import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cftkit", description="Counterfactual training toolkit.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="train BL and CT with the paper's preset and compare with Table I")
    rep.add_argument("--dataset", required=True, type=_dataset_arg, metavar="DATASET",
                     help="a dataset name (moons, circles, linearly_separable, overlapping, adult, ...) "
                          "or all-synthetic / all-real / all")
    rep.add_argument("--runs", type=_int_at_least(1), default=None, help="evaluation runs (default 100; quick: 10)")
    rep.add_argument("--individuals", type=_int_at_least(1), default=None, help="individuals per run and λ_egy")
    rep.add_argument("--epochs", type=_int_at_least(1), default=None, help="training epochs (default: the preset's 100)")
    rep.add_argument("--seed", type=_int_at_least(0), default=0, help="first training seed")
    rep.add_argument("--seeds", type=_int_at_least(1), default=1, help="number of training seeds (seed, seed+1, ...)")
    rep.add_argument("--data-seed", type=_int_at_least(0), default=0, help="seed of the synthetic data / splits")
    rep.add_argument("--quick", action="store_true", help="a small, minutes-scale version")
    rep.add_argument("--out", default=None, help="directory for results.json, results.md and plots")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.add_argument("--no-jit", action="store_true", help="graph mode instead of XLA")
    rep.add_argument("--no-robustness", action="store_true", help="skip FGSM/PGD and integrated gradients")
    rep.add_argument("--set", type=_override, action="append", metavar="KEY=VALUE",
                     help="change a preset setting, e.g. --set schedule=epoch --set lambda_reg=0.25 "
                          "(repeatable; the settings are listed in cftkit.presets.OVERRIDABLE)")
    rep.set_defaults(func=_reproduce)
    bench = sub.add_parser("bench", help="speed benchmarks (P1–P4), printed as a table and written as JSON")
    bench.add_argument("--quick", action="store_true", help="a smoke-test sized run")
    bench.add_argument("--json", default=None, help="write every figure with its unit to this file")
    bench.add_argument("--only", default=None, help="comma-separated subset of p1,p2,p3,p4")
    bench.add_argument("--no-dice", action="store_true", help="skip the DiCE peer baseline in P4")
    bench.set_defaults(func=_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
