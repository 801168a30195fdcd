"""Helpers for the browser tests: a throwaway JupyterLab server and Playwright (headless Debian Chromium).

Recipe (measured on the project's 2-core machines):

* the server listens on 127.0.0.1 only, with a token, ``--allow-root`` (CI runs as root), a throwaway
  ``HOME``/``JUPYTER_*``/``IPYTHONDIR``, news and update checks off, and the two TF log variables set;
* the browser is Debian's ``chromium`` (no ``playwright install``); every non-loopback request is
  aborted by a ``context.route`` guard and recorded, so a test can assert that none happened;
* "Run All" is clicked only once the kernel is ready (the debugger button is enabled), otherwise
  the request is sometimes silently dropped;
* the server is stopped with SIGINT (it shuts its kernels down); leftover processes are an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent

INSTALL_HINT = (
    "The browser tests need Debian's Chromium and the Python Playwright package (no `playwright install`):\n"
    "    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium\n"
    "    pip install -e '.[cpu,lab,test]'      # the `test` extra includes playwright\n"
    "(.ci/run does both.)  Deselect with  -m 'not slow'  to skip every slow test."
)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
                 "--disable-dev-shm-usage"]

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

#: the browser window: a 1024 px wide laptop screen, where no readout may be clipped
VIEWPORT = {"width": 1024, "height": 900}

#: JupyterLab user settings for the throwaway profile: no news/update toast, every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def chromium_path() -> str:
    """Path of the system Chromium, or fail the test with install instructions."""
    path = os.environ.get("CFTKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"chromium was not found (tried $CFTKIT_CHROMIUM, PATH, {path}).\n" + INSTALL_HINT,
                    pytrace=False)
    return path


def sync_playwright():
    """``playwright.sync_api.sync_playwright`` or fail the test with install instructions."""
    try:
        from playwright.sync_api import sync_playwright as sp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pytest.fail(f"Python playwright is not importable ({exc}).\n" + INSTALL_HINT, pytrace=False)
    return sp


def artifacts_dir(default: Path) -> Path:
    """``$CFTKIT_ARTIFACTS`` (if set) or ``default``; created."""
    path = Path(os.environ.get("CFTKIT_ARTIFACTS") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(base: Path) -> dict:
    """Environment for the server and its kernels: throwaway home and Jupyter/IPython/Keras dirs."""
    dirs = {name: base / name for name in ("home", "jupyter_config", "jupyter_data", "jupyter_runtime",
                                           "ipython", "keras", "mpl", "cache")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key in list(env):  # nothing from the developer's Jupyter setup leaks in
        if key.startswith(("JUPYTER_", "JPY_")) or key in ("MPLBACKEND", "IPYTHONDIR"):
            del env[key]
    env.update(HOME=str(dirs["home"]), JUPYTER_CONFIG_DIR=str(dirs["jupyter_config"]),
               JUPYTER_DATA_DIR=str(dirs["jupyter_data"]), JUPYTER_RUNTIME_DIR=str(dirs["jupyter_runtime"]),
               IPYTHONDIR=str(dirs["ipython"]), KERAS_HOME=str(dirs["keras"]), MPLCONFIGDIR=str(dirs["mpl"]),
               XDG_CACHE_HOME=str(dirs["cache"]), XDG_CONFIG_HOME=str(dirs["home"] / ".config"),
               TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", PYTHONUNBUFFERED="1",
               JUPYTER_PLATFORM_DIRS="1")
    # the kernel imports cftkit from this checkout even if it is not pip-installed
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


class LabServer:
    """``jupyter lab`` on 127.0.0.1:<free port> serving ``root_dir``; use as a context manager."""

    def __init__(self, root_dir: Path, work_dir: Path):
        self.root_dir = Path(root_dir)
        self.work_dir = Path(work_dir)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.work_dir / "jupyterlab.log"
        self._children: dict = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}?token={self.token}"

    def start(self, timeout: float = 60.0):
        env = isolated_env(self.work_dir / "profile")
        settings = self.work_dir / "lab-user-settings"
        for name, value in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(value))
        # Students' JupyterLab (the `lab` extra, Binder) has no nbgrader; the test extra installs it for the
        # course tools, so switch its server and lab extensions off here (its lab extension also leaves
        # the notebook's debugger button disabled, which is how open_notebook() sees a ready kernel).
        labconfig = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {"@jupyter/nbgrader": True}}))
        off = {f"nbgrader.server_extensions.{n}": False
               for n in ("formgrader", "validate_assignment", "assignment_list", "course_list")}
        (labconfig.parent / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": off}}))
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", "--allow-root", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root_dir}", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.work_dir / 'lab-workspaces'}"]
        self._log = open(self.log_path, "wb")
        # A background job of a non-interactive shell (how CI may start .ci/run) inherits SIGINT as
        # *ignored*; give the server the default disposition back so the SIGINT in stop() works.
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root_dir, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                req = urllib.request.Request(f"{self.base_url}/api/status",
                                             headers={"Authorization": f"token {self.token}"})
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no log>"

    def _remember_children(self):
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with ipykernel
            return
        with contextlib.suppress(Exception):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._children[child.pid] = child

    def stop(self, timeout: float = 90.0) -> list:
        """SIGINT the server, wait (it shuts its kernels down first, slow on a loaded machine), and return
        the processes that outlived it (killed here)."""
        if self.proc is None:
            return []
        self._remember_children()
        leftovers = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                leftovers.append(f"jupyter lab (pid {self.proc.pid}) ignored SIGINT")
                self.proc.kill()
                self.proc.wait(10)
        deadline = time.monotonic() + 10
        for pid, child in self._children.items():
            with contextlib.suppress(Exception):
                child.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(Exception):
                if child.is_running() and child.status() != "zombie":
                    leftovers.append(f"pid {pid}: {' '.join(child.cmdline())[:200]}")
                    child.kill()
        self._log.close()
        return leftovers

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class NetworkGuard:
    """Abort and record every request that does not go to a loopback address."""

    def __init__(self):
        self.blocked: list[str] = []

    @staticmethod
    def is_local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or (parts.hostname or "") in LOOPBACK

    def install(self, context):
        def handle(route):
            url = route.request.url
            if self.is_local(url):
                route.continue_()
            else:
                self.blocked.append(url)
                route.abort()

        context.route("**/*", handle)
        context.on("request", lambda req: None if self.is_local(req.url) else self.blocked.append(req.url))

        def on_page(page):
            page.on("websocket", lambda ws: None if self.is_local(ws.url) else self.blocked.append(ws.url))

        context.on("page", on_page)


@contextlib.contextmanager
def browser_context(guard: NetworkGuard):
    """(browser, context) of a headless Debian Chromium with the network guard installed."""
    exe = chromium_path()
    sp = sync_playwright()
    with sp() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, service_workers="block")
            guard.install(context)
            yield browser, context
            context.close()
        finally:
            browser.close()


# --------------------------------------------------------------------------- JupyterLab page actions
CELL_STATE_JS = """(panel) => {
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  let pending = 0, unrun = 0, done = 0;
  for (const c of cells) {
    const src = (c.querySelector('.jp-InputArea-editor .cm-content') || {}).textContent || '';
    if (!src.trim()) continue;
    const p = ((c.querySelector('.jp-InputPrompt') || {}).textContent || '').trim();
    if (p.includes('*')) pending++; else if (/\\[\\d+\\]/.test(p)) done++; else unrun++;
  }
  const ind = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {pending, unrun, done, status: ind ? ind.getAttribute('data-status') : null};
}"""


def notebook_panel(page):
    """The notebook panel in front (JupyterLab keeps other open documents in the DOM, hidden)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first


def open_notebook(page, server: LabServer, name: str, timeout_ms: int = 120_000):
    """Open ``name`` in its own fresh workspace (no restored tabs) and wait until its kernel is ready
    (debugger button enabled); returns the notebook panel locator."""
    workspace = "t-" + re.sub(r"[^A-Za-z0-9]+", "-", Path(name).stem) + "-" + secrets.token_hex(3)
    page.goto(server.url(f"lab/workspaces/{workspace}/tree/{name}"), wait_until="domcontentloaded",
              timeout=timeout_ms)
    panel = notebook_panel(page)
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:  # a kernel-picker dialog appears if the kernelspec is unknown
        if page.locator(".jp-Dialog .jp-mod-accept").count():
            page.locator(".jp-Dialog .jp-mod-accept").first.click()
        if panel.locator(".jp-DebuggerBugButton[aria-disabled='false']").count() and panel.locator(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
            return panel
        page.wait_for_timeout(200)
    raise AssertionError(f"kernel of {name} not ready after {timeout_ms / 1000:.0f} s")


def shutdown_kernels(server: LabServer):
    """Shut every session's kernel down through the REST API (frees memory between notebooks)."""
    headers = {"Authorization": f"token {server.token}"}
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(urllib.request.Request(f"{server.base_url}/api/sessions", headers=headers),
                                    timeout=5) as resp:
            sessions = json.loads(resp.read())
        for sess in sessions:
            req = urllib.request.Request(f"{server.base_url}/api/sessions/{sess['id']}", method="DELETE",
                                         headers=headers)
            with contextlib.suppress(OSError):
                urllib.request.urlopen(req, timeout=20).close()


def run_all(page, panel, timeout_s: float = 120.0) -> dict:
    """Menu Run ▸ Run All Cells, then wait until every non-empty code cell has run (or execution stopped).

    Returns the last cell state ``{pending, unrun, done, status}``.
    """
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).first.click()
    page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
    t0 = time.monotonic()
    stopped_since = None
    state = {}
    while time.monotonic() - t0 < timeout_s:
        page.wait_for_timeout(300)
        state = panel.evaluate(CELL_STATE_JS)
        if state["pending"] == 0 and state["status"] == "idle":
            if state["unrun"] == 0:
                return state
            # an error stops the queue: the remaining cells stay "[ ]"; give the UI a moment to be sure
            stopped_since = stopped_since or time.monotonic()
            if time.monotonic() - stopped_since > 3 and state["done"] > 0:
                return state
        else:
            stopped_since = None
    raise AssertionError(f"Run All did not finish within {timeout_s:.0f} s: {state}")


def save_notebook(page, panel, path: Path, timeout_s: float = 20.0) -> dict:
    """Ctrl+S in the notebook and return the saved JSON (read back from the served copy)."""
    before = path.stat().st_mtime_ns
    panel.locator(".jp-Cell").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.stat().st_mtime_ns != before:
            time.sleep(0.3)
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(path.read_text())
        page.wait_for_timeout(200)
    raise AssertionError(f"{path.name} was not saved within {timeout_s:.0f} s")


def notebook_errors(nb: dict) -> list[str]:
    """``ename: evalue`` (plus traceback tail) of every error output in a saved notebook."""
    errors = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if out.get("output_type") == "error":
                tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.get("traceback", [])[-3:]))
                errors.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}\n{tb}")
    return errors


def cell_of(locator):
    """The ``.jp-Cell`` that contains ``locator``."""
    return locator.locator("xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' jp-Cell ')][1]")


def image_sources(scope) -> list[str]:
    """``src`` of every rendered image under ``scope`` (a page or locator)."""
    return scope.locator("img").evaluate_all("els => els.map(e => e.getAttribute('src') || '')")


def slider_by_label(scope, label: str | re.Pattern):
    """The ``.widget-slider`` elements under ``scope`` (page or locator) whose description matches ``label``
    (a string matches exactly, stripped)."""
    pattern = label if isinstance(label, re.Pattern) else re.compile(rf"^\s*{re.escape(label)}\s*$")
    page = scope if hasattr(scope, "goto") else scope.page
    return scope.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text=pattern))


def slider_readout(slider) -> str:
    return (slider.locator(".widget-readout").first.text_content() or "").strip()


def nudge_slider(page, slider, presses: int = 1, key: str = "ArrowRight") -> tuple[str, str]:
    """Focus the slider handle and press ``key`` ``presses`` times; returns (readout before, after)."""
    before = slider_readout(slider)
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(presses):
        page.keyboard.press(key)
        page.wait_for_timeout(60)
    page.wait_for_timeout(200)
    return before, slider_readout(slider)


def wait_for_change(page, fn, before, timeout_s: float = 60.0, what: str = "value"):
    """Poll ``fn()`` until it differs from ``before``; returns the new value."""
    deadline = time.monotonic() + timeout_s
    value = fn()
    while value == before:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not change within {timeout_s:.0f} s")
        page.wait_for_timeout(250)
        value = fn()
    return value


def count_text(page, text: str) -> int:
    return page.get_by_text(text).count()


# --------------------------------------------------------------------------- widget controls, generically
#: the kinds of ipywidgets controls a lesson's widget can have, as CSS selectors of the element to drive
CONTROL_KINDS = {
    "slider": ".widget-slider:not(.widget-play .widget-slider)",
    "dropdown": ".widget-dropdown select",
    "toggle-buttons": ".widget-toggle-buttons",
    "checkbox": ".widget-checkbox input[type=checkbox]",
    "button": "button.jupyter-button:not(.widget-toggle-button):not(.widget-play button)",
}

CLIPPED_JS = """(panel) => {
  const out = [];
  for (const el of panel.querySelectorAll('.jp-OutputArea .widget-readout, .jp-OutputArea .widget-label')) {
    if (!el.offsetParent) continue;  // hidden
    if (el.scrollWidth > el.clientWidth + 1)
      out.push({text: (el.textContent || '').trim(), scroll: el.scrollWidth, client: el.clientWidth,
                cls: el.className});
  }
  return out;
}"""


def clipped_readouts(panel) -> list:
    """Readouts and control labels under the notebook's outputs whose text does not fit (scrollWidth > clientWidth)."""
    return panel.evaluate(CLIPPED_JS)


def widget_cells(panel) -> list:
    """Cells whose output holds a live widget with at least one control and a rendered image."""
    cells = []
    outputs = panel.locator(".jp-Cell")
    for i in range(outputs.count()):
        cell = outputs.nth(i)
        if not cell.locator(".jp-OutputArea .jupyter-widgets").count():
            continue
        if not any(src.startswith("data:image") for src in image_sources(cell)):
            continue
        if any(cell.locator(sel).count() for sel in CONTROL_KINDS.values()):
            cells.append(cell)
    return cells


def enabled(locator) -> bool:
    with contextlib.suppress(Exception):
        if locator.is_disabled():
            return False
    cls = locator.get_attribute("class") or ""
    return "mod-disabled" not in cls and locator.locator(".noUi-target[disabled]").count() == 0


def change_control(page, kind: str, control) -> str:
    """Change one control of ``kind`` the way a student would; returns a description, or "" if it can't."""
    if kind == "slider":
        before, after = nudge_slider(page, control, presses=1)
        if after == before:  # at the end of its range
            before, after = nudge_slider(page, control, presses=1, key="ArrowLeft")
        return f"slider {before} -> {after}" if after != before else ""
    if kind == "dropdown":
        options = control.locator("option").evaluate_all("os => os.map(o => o.value)")
        current = control.input_value()
        other = [o for o in options if o != current]
        if not other:
            return ""
        control.select_option(other[0])
        return f"dropdown {current!r} -> {other[0]!r}"
    if kind == "toggle-buttons":
        buttons = control.locator("button")
        for j in range(buttons.count()):
            b = buttons.nth(j)
            if "mod-active" not in (b.get_attribute("class") or "") and enabled(b):
                b.click()
                return f"toggle -> {(b.text_content() or '').strip()!r}"
        return ""
    if kind == "checkbox":
        control.click()
        return "checkbox toggled"
    if kind == "button":
        control.scroll_into_view_if_needed()
        control.click()
        return f"button {(control.text_content() or '').strip()!r}"
    raise ValueError(kind)
