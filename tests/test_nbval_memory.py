"""The nbval memory plugin (tests/nbval_memory.py) on a small notebook of our own: it measures the kernel's
peak RSS, fails a notebook above the budget naming the cell that raised the peak, and writes its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("nbval")
if not Path("/proc/self/status").exists():
    pytest.skip("the plugin reads /proc (Linux only)", allow_module_level=True)


def _notebook(path: Path, megabytes: int) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell(f"block = bytearray({megabytes} * 2**20)  # zero pages are not resident\n"
                                          f"block[::4096] = b'1' * len(block[::4096])  # touch every page")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _run(nb, budget: float, report: Path, *extra):
    env = {k: v for k, v in os.environ.items() if k != "CFTKIT_ARTIFACTS"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.nbval_memory",
         *map(str, nb if isinstance(nb, (list, tuple)) else [nb]), *extra,
         "--nbval", "--nbval-current-env", f"--nbval-memory-budget={budget}", f"--nbval-memory-report={report}",
         "--rootdir", str(report.parent)],
        cwd=report.parent, env=env, capture_output=True, text=True, timeout=180)


def test_over_budget_fails_naming_the_cell_and_the_report_holds_the_peak(tmp_path):
    nb = _notebook(tmp_path / "big.ipynb", 300)
    report = tmp_path / "mem.json"
    proc = _run(nb, budget=150, report=report)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out                       # the two cells pass, the memory item fails
    assert "2 passed" in out and "1 failed" in out, out
    assert "above the budget of 150 MB" in out and "Cell 1" in out, out
    rec = json.loads(report.read_text())["lessons"][0]
    assert rec["status"] == "over" and rec["peak_rss_mb"] >= 300, rec  # the 300 MB block is in the peak
    assert rec["cells"][1]["hwm_increase_mb"] >= 290, rec["cells"]
    assert report.with_suffix(".md").read_text().count("big.ipynb") == 1


def test_under_budget_passes(tmp_path):
    nb = _notebook(tmp_path / "small.ipynb", 20)
    report = tmp_path / "mem.json"
    proc = _run(nb, budget=2000, report=report)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = json.loads(report.read_text())["lessons"][0]
    assert rec["status"] == "ok" and rec["over_budget_mb"] == 0.0 and rec["peak_rss_mb"] > 20, rec


def test_under_xdist_the_controller_reports_every_workers_notebooks(tmp_path):
    pytest.importorskip("xdist")
    nbs = [_notebook(tmp_path / "a.ipynb", 20), _notebook(tmp_path / "b.ipynb", 250)]
    report = tmp_path / "mem.json"
    proc = _run(nbs, 200, report, "-n", "2", "--dist", "loadfile")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "above the budget of 200 MB" in out, out  # b's memory item fails
    recs = {Path(r["notebook"]).name: r for r in json.loads(report.read_text())["lessons"]}
    assert set(recs) == {"a.ipynb", "b.ipynb"}, recs
    assert recs["a.ipynb"]["status"] == "ok" and recs["b.ipynb"]["status"] == "over", recs
