"""End-to-end check of the lesson notebooks in a real browser: JupyterLab + headless Debian Chromium.

For each notebook: open it in JupyterLab (served from a *copy* of ``notebooks/`` in a temporary
directory, so the committed notebooks are never rewritten), wait for the kernel, Run All, save the
copy and assert it has no error outputs, assert that the widgets rendered (no "Error displaying
widget"), then drive a control and assert the rendered figure changes.  No request may leave the
machine (every non-loopback request is aborted and recorded).  Screenshots go to ``$CFTKIT_ARTIFACTS``
(or the test's temporary directory); their paths are printed (run with ``-s`` to see them).

Needs Debian's ``chromium`` and the ``playwright`` Python package (``.ci/run`` installs both); the tests
FAIL, with install instructions, when either is missing.  Runtime ≈ 2 min on 2 CPU cores (most of it
is the two notebooks' own Run All).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import browser_helpers as bh

pytestmark = pytest.mark.slow

NOTEBOOKS = bh.REPO / "notebooks"
TRAIN_NB = "05_training_end_to_end.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/ and a guarded headless-Chromium context."""
    bh.chromium_path()  # fail early (with install hints) rather than after starting a server
    bh.sync_playwright()
    base = tmp_path_factory.mktemp("browser")
    root = base / "notebooks"
    if NOTEBOOKS.is_dir():
        shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    else:
        root.mkdir()
    artifacts = bh.artifacts_dir(base / "artifacts")
    guard = bh.NetworkGuard()
    server = bh.LabServer(root, base)
    t0 = time.monotonic()
    server.start()
    print(f"\n[browser] jupyter lab ready on {server.base_url} in {time.monotonic() - t0:.1f} s "
          f"(root {root}, log {server.log_path})")
    leftovers = []
    try:
        with bh.browser_context(guard) as (browser, context):
            print(f"[browser] chromium {browser.version}")
            yield SimpleNamespace(server=server, context=context, guard=guard, root=root, artifacts=artifacts)
    finally:
        t0 = time.monotonic()
        leftovers = server.stop()
        print(f"[browser] server stopped in {time.monotonic() - t0:.1f} s (rc {server.proc.returncode})")
    assert not leftovers, f"processes outlived the JupyterLab server (killed now): {leftovers}"
    assert not guard.blocked, f"external requests were attempted: {sorted(set(guard.blocked))}"


class NotebookRun:
    """Open + Run All + checks shared by every notebook test."""

    def __init__(self, lab, name: str, run_timeout_s: float = 120.0):
        self.lab, self.name = lab, name
        path = lab.root / name
        if not path.exists():
            pytest.fail(f"notebooks/{name} does not exist", pytrace=False)
        self.path = path
        self.page = lab.context.new_page()
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.shots: list[Path] = []
        t0 = time.monotonic()
        self.panel = bh.open_notebook(self.page, lab.server, name)
        t1 = time.monotonic()
        state = bh.run_all(self.page, self.panel, timeout_s=run_timeout_s)
        t2 = time.monotonic()
        print(f"[browser] {name}: open+kernel {t1 - t0:.1f} s, Run All {t2 - t1:.1f} s, cells {state}")
        self.screenshot("after_run_all")
        saved = bh.save_notebook(self.page, self.panel, path)
        errors = bh.notebook_errors(saved)
        assert not errors, f"{name}: cells raised:\n" + "\n".join(errors)
        assert state["unrun"] == 0, f"{name}: Run All stopped early: {state}\n{self.server_log()}"
        self.saved = saved

    def server_log(self) -> str:
        return "server log tail:\n" + self.lab.server.log_tail(30)

    def screenshot(self, tag: str, locator=None) -> Path:
        path = self.lab.artifacts / f"{Path(self.name).stem}__{tag}.png"
        (locator or self.page).screenshot(path=str(path))
        self.shots.append(path)
        print(f"[browser] screenshot {path}")
        return path

    def assert_widgets_rendered(self, min_sliders: int = 1):
        page, panel = self.page, self.panel
        panel.locator(".jp-OutputArea .jupyter-widgets").first.wait_for(timeout=30_000)
        panel.locator(".jp-OutputArea .widget-slider").first.wait_for(timeout=30_000)
        n_widgets = panel.locator(".jupyter-widgets").count()
        n_sliders = panel.locator(".widget-slider").count()
        print(f"[browser] {self.name}: {n_widgets} .jupyter-widgets, {n_sliders} .widget-slider")
        assert n_sliders >= min_sliders
        assert bh.count_text(page, "Error displaying widget") == 0, f"{self.name}: 'Error displaying widget' shown"

    def finish(self):
        assert bh.count_text(self.page, "Error displaying widget") == 0
        assert not self.page_errors, f"{self.name}: uncaught page errors: {self.page_errors}"
        if self.console_errors:
            print(f"[browser] {self.name}: console errors (not fatal): {self.console_errors[:5]}")
        assert not self.lab.guard.blocked, f"external requests: {sorted(set(self.lab.guard.blocked))}"
        self.close()

    def close(self):
        if not self.page.is_closed():
            self.page.close()
        bh.shutdown_kernels(self.lab.server)


LESSONS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: Run All budget per lesson (each lesson runs in < 2 min on 2 cores; the browser adds its own work)
RUN_TIMEOUT_S = 240


def _drive_every_kind_of_control(run, cell, label: str) -> dict:
    """Change one control of every kind the widget in ``cell`` has; each kind must redraw its figure.

    Returns ``{kind: description of the change that redrew the figure}``.  A kind passes when one of its
    (first three enabled) controls changes the image bytes within 20 s."""
    page = run.page
    changed, failed = {}, {}
    for kind, selector in bh.CONTROL_KINDS.items():
        controls = cell.locator(selector)
        tried = []
        for j in range(controls.count()):
            control = controls.nth(j)
            if not control.is_visible() or not bh.enabled(control) or len(tried) >= 3:
                continue
            before = bh.image_sources(cell)
            what = bh.change_control(page, kind, control)
            if not what:
                continue
            tried.append(what)
            try:
                bh.wait_for_change(page, lambda: bh.image_sources(cell), before, timeout_s=20, what=what)
            except AssertionError:
                continue
            page.wait_for_timeout(200)
            changed[kind] = what
            break
        if tried and kind not in changed:
            failed[kind] = tried
    print(f"[browser] {run.name} {label}: redrawn by {changed}; no redraw: {failed}")
    assert not failed, f"{run.name} {label}: changing these controls did not change the figure: {failed}"
    assert changed, f"{run.name} {label}: no control could be changed"
    return changed


@pytest.mark.parametrize("name", LESSONS)
def test_every_lesson_widget_responds_and_fits(lab, name):
    """Every lesson: Run All without errors; it shows at least one live widget with a figure; each kind
    of control of each widget (slider, dropdown, toggle buttons, checkbox, button) redraws the figure;
    at 1024 px no readout or control label is clipped; in 05 the trainer's Train button trains."""
    run = NotebookRun(lab, name, run_timeout_s=RUN_TIMEOUT_S)
    assert bh.count_text(run.page, "Error displaying widget") == 0, f"{name}: 'Error displaying widget' shown"
    cells = bh.widget_cells(run.panel)
    assert cells, f"{name} has no live widget with a figure"
    clipped = bh.clipped_readouts(run.panel)
    assert not clipped, f"{name}: readouts/labels clipped at {bh.VIEWPORT['width']} px: {clipped}"
    if name == TRAIN_NB:  # in the same run (a lesson is run once): training from the widget
        _train_button_trains(run)
    for k, cell in enumerate(cells):
        cell.scroll_into_view_if_needed()
        run.screenshot(f"widget{k}_before", cell)
        _drive_every_kind_of_control(run, cell, f"widget {k}")
        run.screenshot(f"widget{k}_after", cell)
    clipped = bh.clipped_readouts(run.panel)  # readouts after the changes (e.g. longer numbers)
    assert not clipped, f"{name}: readouts/labels clipped after changing the controls: {clipped}"
    run.finish()


def _train_button_trains(run):
    """05: the CTTrainer's Train button trains (after moving a λ slider) and updates the dashboard."""
    run.assert_widgets_rendered(min_sliders=1)
    page = run.page
    button = run.panel.locator("button.jupyter-button", has_text=re.compile(r"^\s*Train\s*$"))
    assert button.count() >= 1, f"no 'Train' button in {TRAIN_NB}"
    button = button.last
    cell = bh.cell_of(button)
    lam = bh.slider_by_label(cell, re.compile(r"λ|lambda"))
    if lam.count():
        before, after = bh.nudge_slider(page, lam.first, presses=2)
        print(f"[browser] {TRAIN_NB}: λ slider {before} -> {after}")
        assert after != before
    epoch_slider = bh.slider_by_label(cell, "epochs")
    epochs = bh.slider_readout(epoch_slider.first) if epoch_slider.count() else "0"
    run.screenshot("trainer_before", cell)
    imgs = bh.image_sources(cell)
    text = cell.inner_text()
    button.scroll_into_view_if_needed()
    button.click()
    t0 = time.monotonic()
    # the button is disabled and the status says "training…" while training; afterwards both revert and
    # the status line / figure show the new epochs
    deadline = time.monotonic() + 120
    while True:
        page.wait_for_timeout(300)
        cur = cell.inner_text()
        if cur != text and "training…" not in cur and button.is_enabled():
            break
        assert time.monotonic() < deadline, "training did not finish within 120 s:\n" + cur[-800:]
    page.wait_for_timeout(500)
    print(f"[browser] {TRAIN_NB}: Train click -> done in {time.monotonic() - t0:.1f} s")
    new_imgs, new_text = bh.image_sources(cell), cell.inner_text()
    assert new_text != text, "the trainer's status text did not change"
    assert new_imgs != imgs, "the trainer's dashboard figure did not change"
    totals = [re.findall(r"\(total (\d+)\)", t) for t in (text, new_text)]
    if totals[1]:  # CTTrainer's status line: "<objective>: trained E epoch(s) in … (total N); loss …"
        assert int(totals[1][-1]) == int((totals[0] or ["0"])[-1]) + int(epochs), (totals, epochs)
    assert any(s.startswith("data:image") for s in new_imgs), "no figure in the trainer cell after training"
    assert "Error" not in new_text and "Traceback" not in new_text, new_text[-1500:]
    run.screenshot("trainer_after", cell)
