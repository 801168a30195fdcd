"""pytest plugin: the memory of every notebook kernel that nbval runs, and a budget for it.

Load it next to nbval (``.ci/run`` does, from the repository root)::

    python -m pytest -p tests.nbval_memory notebooks/00_start_here.ipynb --nbval --nbval-current-env

For every notebook nbval executes, the plugin finds the kernel's process (the pid of the process that
nbval's ``KernelManager`` launched through its provisioner), samples its memory in a background thread
while the cells run, reads the exact high-water mark after every cell, and adds one test item after the
notebook's last cell, ``<notebook>::Kernel memory``, which fails when the kernel's **peak RSS** is above
the budget (naming the notebook, the excess and the cell that raised the peak most). The figures (per
notebook and per cell) go to a JSON file and a markdown table beside it, and a table is printed at the
end of the session.

Figures, all in MB = 2**20 bytes (what /proc's "kB" means, divided by 1024):

* ``peak_rss_mb``: VmHWM of /proc/<pid>/status, the kernel's resident-set high-water mark (exact);
* ``end_rss_mb``: VmRSS after the last cell;
* ``end_private_mb`` / ``peak_private_mb``: Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup
  after the last cell / the largest sampled value. Pages of a file that no other process maps count as
  private, so with a single kernel this includes TensorFlow's shared libraries;
* ``end_anon_mb`` / ``peak_anon_mb``: RssAnon of /proc/<pid>/status (heap, stacks, arenas: what every
  further kernel adds in full) after the last cell / the largest sampled value;
* ``end_file_mb``: RssFile (mapped files, mostly shared libraries: counted once however many kernels
  map them);
* ``seconds``: wall time from the kernel's start to the end of the last cell (``startup_seconds`` of it
  until the kernel answered).

Under pytest-xdist each worker measures its own notebooks and the controller writes one report.

Options: ``--nbval-memory-budget MB`` (default 800; 0 measures without a budget),
``--nbval-memory-report PATH`` (default ``$CFTKIT_ARTIFACTS/lesson_memory.json`` when that variable is
set, else no file; a ``.md`` table is written next to it), ``--nbval-memory-interval SECONDS`` (the
sampling period, default 0.1). Linux only (it reads /proc); elsewhere the memory item is skipped.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import pytest

try:
    from nbval.plugin import IPyNbCell, IPyNbFile
except ImportError:  # without nbval there is nothing to measure
    IPyNbCell = IPyNbFile = None

DEFAULT_BUDGET_MB = 800.0
DEFAULT_INTERVAL_S = 0.1
ITEM_NAME = "Kernel memory"
REPORT_NAME = "lesson_memory.json"
_KEY = pytest.StashKey[dict]() if hasattr(pytest, "StashKey") else None
_STATUS_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


# ------------------------------------------------------------------------------------------- /proc
def read_status(pid: int) -> dict[str, float]:
    """The memory lines of /proc/<pid>/status, in MB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in _STATUS_FIELDS:
                out[key] = int(rest.split()[0]) / 1024.0
    return out


def read_private(pid: int) -> float:
    """Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup, in MB."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total / 1024.0


def kernel_pid(nbfile) -> int | None:
    """The pid of the kernel process of an nbval notebook (``IPyNbFile.kernel``, a ``RunningKernel``)."""
    km = getattr(getattr(nbfile, "kernel", None), "km", None)
    if km is None:
        return None
    prov = getattr(km, "provisioner", None)  # jupyter_client >= 7: LocalProvisioner.process is the Popen
    proc = getattr(prov, "process", None) or getattr(km, "kernel", None)  # older jupyter_client: km.kernel
    pid = getattr(proc, "pid", None) or getattr(prov, "pid", None)
    return int(pid) if pid else None


class Sampler(threading.Thread):
    """Reads a process's RSS, anonymous and private memory every ``interval`` seconds; keeps the maxima
    and the cell that was running when each maximum was seen."""

    def __init__(self, pid: int, interval: float):
        super().__init__(name=f"nbval-memory-{pid}", daemon=True)
        self.pid, self.interval = pid, interval
        self.cell = "startup"
        self.peak_private = self.peak_anon = self.peak_rss = 0.0
        self.peak_private_cell = self.peak_anon_cell = None
        self.samples = 0
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def sample(self) -> dict | None:
        try:
            st = read_status(self.pid)
            private = read_private(self.pid)
        except (OSError, ValueError, IndexError):  # the process is gone (or going)
            return None
        with self._lock:
            self.samples += 1
            if private > self.peak_private:
                self.peak_private, self.peak_private_cell = private, self.cell
            if st.get("RssAnon", 0.0) > self.peak_anon:
                self.peak_anon, self.peak_anon_cell = st["RssAnon"], self.cell
            self.peak_rss = max(self.peak_rss, st.get("VmRSS", 0.0))
        return {**st, "private": private}

    def run(self):
        while not self._stop_event.wait(self.interval):
            if self.sample() is None:
                return

    def stop(self) -> dict | None:
        self._stop_event.set()
        self.join(timeout=5)
        return self.sample()  # one last reading, also when the thread had no time to take any


# ---------------------------------------------------------------------------------------- options
def pytest_addoption(parser):
    group = parser.getgroup("nbval-memory", "kernel memory of the notebooks nbval runs (tests/nbval_memory.py)")
    group.addoption("--nbval-memory-budget", type=float, default=DEFAULT_BUDGET_MB, metavar="MB",
                    help="fail a notebook whose kernel's peak RSS (VmHWM) is above MB megabytes (2**20 bytes); "
                         f"0: measure only (default {DEFAULT_BUDGET_MB:g})")
    group.addoption("--nbval-memory-report", default=None, metavar="PATH",
                    help=f"write the figures to PATH (JSON) and a markdown table beside it (default "
                         f"$CFTKIT_ARTIFACTS/{REPORT_NAME} when CFTKIT_ARTIFACTS is set, else no file)")
    group.addoption("--nbval-memory-interval", type=float, default=DEFAULT_INTERVAL_S, metavar="SECONDS",
                    help=f"sampling period of the private/anonymous memory (default {DEFAULT_INTERVAL_S:g} s)")


def pytest_configure(config):
    state = {"records": {}, "samplers": {}, "t0": {}}
    if _KEY is not None:
        config.stash[_KEY] = state
    else:  # pragma: no cover - pytest < 7
        config._nbval_memory = state


def _state(config) -> dict:
    return config.stash[_KEY] if _KEY is not None else config._nbval_memory


def _report_path(config) -> Path | None:
    opt = config.getoption("--nbval-memory-report")
    if opt:
        return Path(opt)
    art = os.environ.get("CFTKIT_ARTIFACTS")
    return Path(art) / REPORT_NAME if art else None


def _is_notebook(node) -> bool:
    return IPyNbFile is not None and isinstance(node, IPyNbFile)


def _label(nbfile) -> str:
    try:
        return os.path.relpath(str(nbfile.path), str(nbfile.config.invocation_params.dir))
    except (AttributeError, ValueError):
        return str(getattr(nbfile, "fspath", nbfile.name))


# ------------------------------------------------------------------------------ collection: the item
class MemoryBudgetExceeded(Exception):
    pass


class KernelMemoryItem(pytest.Item):
    """After a notebook's last cell: its kernel's memory figures, failed when the peak is over budget."""

    def runtest(self):
        rec = _finish(self.parent)
        if rec is None or rec.get("status") == "no-kernel":
            pytest.skip("no kernel process to measure (nbval did not start one, or not Linux)")
        if rec.get("status") == "dead":
            raise MemoryBudgetExceeded(f"{rec['notebook']}: the kernel was gone before the memory could be read "
                                       f"(killed for memory?); peak seen by sampling {rec.get('peak_sampled_rss_mb')} MB")
        budget = rec["budget_mb"]
        if budget and rec["peak_rss_mb"] > budget:
            over = rec["peak_rss_mb"] - budget
            top = max(rec["cells"], key=lambda c: c["hwm_increase_mb"], default=None)
            where = (f"; the largest rise was {top['cell']} (+{top['hwm_increase_mb']:.0f} MB, to "
                     f"{top['hwm_after_mb']:.0f} MB): {top['first_line']!r}") if top else ""
            raise MemoryBudgetExceeded(
                f"{rec['notebook']}: kernel peak RSS {rec['peak_rss_mb']:.0f} MB is {over:.0f} MB "
                f"({100 * over / budget:.1f} %) above the budget of {budget:.0f} MB{where}. "
                f"At the end: RSS {rec['end_rss_mb']:.0f} MB, private {rec['end_private_mb']:.0f} MB, "
                f"anonymous {rec['end_anon_mb']:.0f} MB (per-cell figures: --nbval-memory-report).")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, MemoryBudgetExceeded):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"{_label(self.parent)}::{ITEM_NAME}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    if not _is_notebook(collector):
        return
    rep = outcome.get_result()
    if rep.passed and rep.result:
        rep.result.append(KernelMemoryItem.from_parent(collector, name=ITEM_NAME))


# ------------------------------------------------------------------------------- running: the kernel
def _ensure_started(nbfile, config):
    state = _state(config)
    if nbfile.nodeid in state["samplers"] or nbfile.nodeid in state["records"]:
        return
    pid = kernel_pid(nbfile)
    t0 = state["t0"].get(nbfile.nodeid, time.monotonic())
    rec = {"notebook": _label(nbfile), "name": Path(str(nbfile.path)).stem, "pid": pid,
           "budget_mb": config.getoption("--nbval-memory-budget"), "cells": [],
           "startup_seconds": round(time.monotonic() - t0, 2), "_t0": t0}
    if pid is None or not os.path.exists(f"/proc/{pid}/status"):
        rec["status"] = "no-kernel"
        state["records"][nbfile.nodeid] = rec
        return
    sampler = Sampler(pid, config.getoption("--nbval-memory-interval"))
    first = sampler.sample() or {}
    rec["startup_rss_mb"] = round(first.get("VmRSS", 0.0), 1)
    sampler.start()
    state["samplers"][nbfile.nodeid] = (sampler, rec)


def _finish(nbfile) -> dict | None:
    """Stop the sampler and complete the notebook's record (once); the kernel must still be running."""
    state = _state(nbfile.config)
    if nbfile.nodeid in state["records"]:
        return state["records"][nbfile.nodeid]
    entry = state["samplers"].pop(nbfile.nodeid, None)
    if entry is None:
        return None
    sampler, rec = entry
    end_t = rec.pop("_end", time.monotonic())
    last = sampler.stop()
    rec["seconds"] = round(end_t - rec.pop("_t0"), 1)
    rec["samples"] = sampler.samples
    rec["peak_sampled_rss_mb"] = round(sampler.peak_rss, 1)
    if last is None:
        rec["status"] = "dead"
    else:
        r = lambda v: round(v, 1)  # noqa: E731
        rec.update(peak_rss_mb=r(last["VmHWM"]), end_rss_mb=r(last["VmRSS"]), end_private_mb=r(last["private"]),
                   peak_private_mb=r(max(sampler.peak_private, last["private"])),
                   peak_private_cell=sampler.peak_private_cell, end_anon_mb=r(last.get("RssAnon", 0.0)),
                   peak_anon_mb=r(max(sampler.peak_anon, last.get("RssAnon", 0.0))),
                   peak_anon_cell=sampler.peak_anon_cell, end_file_mb=r(last.get("RssFile", 0.0)))
        budget = rec["budget_mb"]
        rec["over_budget_mb"] = r(max(0.0, rec["peak_rss_mb"] - budget)) if budget else 0.0
        rec["status"] = "over" if budget and rec["peak_rss_mb"] > budget else "ok"
    state["records"][nbfile.nodeid] = rec
    return rec


def _is_cell(item) -> bool:
    return IPyNbCell is not None and isinstance(item, IPyNbCell)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    nbfile = item.parent
    if _is_notebook(nbfile) and getattr(nbfile, "kernel", None) is None:
        _state(item.config)["t0"].setdefault(nbfile.nodeid, time.monotonic())
    yield
    if _is_notebook(nbfile) and getattr(nbfile, "kernel", None) is not None:
        _ensure_started(nbfile, item.config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    entry = _state(item.config)["samplers"].get(item.parent.nodeid) if _is_cell(item) else None
    if entry is None:
        yield
        return
    sampler, rec = entry
    try:
        before = read_status(sampler.pid)["VmHWM"]
    except OSError:
        before = None
    sampler.cell = item.name
    t = time.monotonic()
    yield
    rec["_end"] = time.monotonic()
    try:
        st = read_status(sampler.pid)
    except OSError:
        return
    src = (getattr(item, "cell", None) or {}).get("source", "")
    first = next((ln for ln in src.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    rec["cells"].append({"cell": item.name, "first_line": first[:100], "seconds": round(rec["_end"] - t, 2),
                         "hwm_after_mb": round(st["VmHWM"], 1), "rss_after_mb": round(st["VmRSS"], 1),
                         "anon_after_mb": round(st.get("RssAnon", 0.0), 1),
                         "hwm_increase_mb": round(st["VmHWM"] - before, 1) if before is not None else 0.0})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    nbfile = item.parent
    if _is_notebook(nbfile) and (nextitem is None or nextitem.parent is not nbfile):
        _finish(nbfile)  # the notebook's kernel is stopped in this teardown (e.g. -x before the memory item)
    yield


# ---------------------------------------------------------------------------------------- reporting
def _table(records: list[dict]) -> list[str]:
    head = ("| notebook | run time s | peak RSS MB | end RSS MB | private MB (end / peak) | anonymous MB "
            "(end / peak) | budget | largest rise |")
    lines = [head, "|" + "---|" * 8]
    for rec in records:
        if rec.get("status") in ("no-kernel", "dead") or "peak_rss_mb" not in rec:
            lines.append(f"| {rec['notebook']} | {rec.get('seconds', '')} | n/a ({rec.get('status')}) | | | | | |")
            continue
        top = max(rec["cells"], key=lambda c: c["hwm_increase_mb"], default=None)
        rise = f"{top['cell']} +{top['hwm_increase_mb']:.0f}" if top else ""
        budget = ("—" if not rec["budget_mb"] else
                  f"**{rec['over_budget_mb']:.0f} over**" if rec["status"] == "over" else "ok")
        lines.append(f"| {rec['notebook']} | {rec['seconds']:.0f} | {rec['peak_rss_mb']:.0f} | {rec['end_rss_mb']:.0f} "
                     f"| {rec['end_private_mb']:.0f} / {rec['peak_private_mb']:.0f} | {rec['end_anon_mb']:.0f} / "
                     f"{rec['peak_anon_mb']:.0f} | {budget} | {rise} |")
    return lines


def _environment() -> dict:
    keys = ("MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "LD_PRELOAD",
            "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS",
            "TF_XLA_FLAGS")
    return {k: os.environ[k] for k in keys if k in os.environ}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist: the controller collects each worker's records (the workers' reports are not written)."""
    records = getattr(node, "workeroutput", {}).get("nbval_memory")
    if records:
        _state(node.config)["records"].update(json.loads(records))


def pytest_sessionfinish(session):
    state = _state(session.config)
    for nodeid, (sampler, rec) in list(state["samplers"].items()):  # notebooks whose teardown never came
        sampler.stop()
        state["samplers"].pop(nodeid)
        rec.update(status="incomplete")
        rec.pop("_t0", None), rec.pop("_end", None)
        state["records"][nodeid] = rec
    if hasattr(session.config, "workeroutput"):  # an xdist worker: hand the records to the controller
        session.config.workeroutput["nbval_memory"] = json.dumps(state["records"])
        return
    records = sorted(state["records"].values(), key=lambda r: r["notebook"])
    path = _report_path(session.config)
    if not records or path is None:
        return
    path = path if path.is_absolute() else Path(session.config.invocation_params.dir) / path
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"unit": "MB = 2**20 bytes", "budget_mb": session.config.getoption("--nbval-memory-budget"),
           "measure": "peak_rss_mb = VmHWM of the kernel process; private = Private_Clean + Private_Dirty "
                      "(smaps_rollup); anon = RssAnon; peaks of private/anon are sampled",
           "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                       "cpus": os.cpu_count()},
           "environment": _environment(), "lessons": records}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    path.with_suffix(".md").write_text("\n".join(_table(records)) + "\n", encoding="utf-8")
    state["written"] = path


def pytest_terminal_summary(terminalreporter, config):
    state = _state(config)
    records = sorted(state["records"].values(), key=lambda r: r["notebook"])
    if not records:
        return
    budget = config.getoption("--nbval-memory-budget")
    terminalreporter.section(f"kernel memory (MB = 2**20 bytes; budget: peak RSS ≤ {budget:g} MB)"
                             if budget else "kernel memory (MB = 2**20 bytes; no budget)")
    for line in _table(records):
        terminalreporter.write_line(line)
    if state.get("written"):
        terminalreporter.write_line(f"written to {state['written']} and {state['written'].with_suffix('.md')}")
