"""Binder (repo2docker) configuration, checked without Docker.

* static checks of ``binder/`` and the README badge (fast);
* ``repo2docker --no-build --debug`` on a clean copy of the repository prints the Dockerfile Binder
  would build: it must pick ``binder/`` (Python from ``runtime.txt``, ``pip install -r
  binder/requirements.txt``, ``./binder/postBuild``, ``binder/start`` as entrypoint);
* the same install steps replayed in a fresh venv (pip install -r binder/requirements.txt, then
  binder/postBuild as-is), and ``notebooks/00_start_here.ipynb`` executed there through
  ``binder/start`` — the closest local check of a Binder launch short of building its Docker image.

The replay installs TensorFlow into a fresh venv (≈ 30-60 s from the local mirror / pip cache).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"
START_NOTEBOOK = "notebooks/00_start_here.ipynb"
BADGE_RE = re.compile(r"https://mybinder\.org/v2/gh/(?P<org>[^/\s)]+)/(?P<repo>[^/\s)]+)/(?P<ref>[^?\s)]+)"
                      r"\?(?:urlpath=(?P<urlpath>[^\s)&\"']+)|labpath=(?P<labpath>[^\s)&\"']+))")
INSTALL_HINT = "pip install jupyter-repo2docker   (in the `test` extra: pip install -e '.[cpu,lab,test]')"


def runtime_version() -> str:
    text = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+\.\d+)", text)
    assert m, f"binder/runtime.txt must be 'python-X.Y', got {text!r}"
    return m.group(1)


def requirement_lines() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


# ----------------------------------------------------------------------------------------- static checks
def test_binder_files():
    assert runtime_version()
    reqs = requirement_lines()
    names = {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in reqs}
    tf = [r for r in reqs if re.match(r"tensorflow-cpu\s*==", r, re.I)]
    assert tf, f"binder/requirements.txt must pin the CPU TensorFlow wheel (tensorflow-cpu==...): {reqs}"
    assert "tensorflow" not in names, "the CUDA 'tensorflow' wheel doubles the image size; use tensorflow-cpu"
    for needed in ("ipywidgets", "matplotlib", "jupyterlab"):
        assert needed in names, f"binder/requirements.txt lacks {needed}"

    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    body = post.read_text()
    assert body.startswith("#!"), "binder/postBuild needs a shebang"
    assert re.search(r"^\s*set -[a-z]*e", body, re.M), "binder/postBuild must 'set -e' (else failures are ignored)"
    assert re.search(r"pip install\b.*\s(-e\s+)?\.(\s|$)", body, re.M), "binder/postBuild must install cftkit"

    start = BINDER / "start"
    assert os.access(start, os.X_OK), "binder/start must be executable"
    assert re.search(r'^\s*exec "\$@"', start.read_text(), re.M), "binder/start must end with exec \"$@\""
    assert not (REPO / ".binder").exists(), "both binder/ and .binder/ exist (repo2docker refuses that)"
    assert not (BINDER / "environment.yml").exists(), "environment.yml would make runtime.txt ignored"


def test_readme_binder_badge():
    readme = (REPO / "README.md").read_text()
    badges = list(BADGE_RE.finditer(readme))
    assert badges, "README.md has no mybinder.org/v2/gh/<org>/<repo>/<ref>?urlpath=lab/tree/<notebook> link"
    assert "mybinder.org/badge_logo.svg" in readme, "README.md lacks the Binder badge image"
    for m in badges:
        if m.group("urlpath"):
            urlpath = unquote(m.group("urlpath"))
            assert urlpath.startswith("lab/tree/"), f"badge urlpath should open JupyterLab: {urlpath}"
            target = urlpath[len("lab/tree/"):]
        else:
            target = unquote(m.group("labpath"))
        assert (REPO / target).is_file(), f"README Binder badge points to {target}, which does not exist"
        assert target.endswith(".ipynb")
        # students open Binder: the badge opens their copy (exercises with checks, no solutions)
        assert target.startswith("notebooks/student/"), f"README Binder badge should open a student copy: {target}"


# ------------------------------------------------------------------------------------------- culling
CULL_CONFIG = BINDER / "jupyter" / "jupyter_server_config.json"


def test_binder_config_culls_idle_kernels_after_ten_minutes():
    cfg = json.loads(CULL_CONFIG.read_text())["MappingKernelManager"]
    assert cfg["cull_idle_timeout"] == 600, cfg      # 10 minutes without activity
    assert 0 < cfg["cull_interval"] <= 60, cfg
    assert cfg["cull_connected"] is True, cfg        # a forgotten open tab still gives its memory back
    assert cfg.get("cull_busy", False) is False, cfg  # never a kernel in the middle of a long cell


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_started_by_binder_start_culls_a_connected_idle_kernel(tmp_path):
    """A real Jupyter server launched through binder/start (as Binder does) reads binder/jupyter/: a kernel
    whose tab is still connected is shut down once idle. The timeout is shortened on the command line; the
    other settings (cull_connected above all) come from the configuration file."""
    import asyncio
    import urllib.request

    from tornado.websocket import websocket_connect

    jupyter = Path(sys.executable).with_name("jupyter")
    if not jupyter.exists():
        pytest.skip("jupyter is not installed next to this Python")
    port, token = _free_port(), "cftkit-test"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
    env.update(HOME=str(tmp_path), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(BINDER / "start"), str(jupyter), "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}", "--allow-root",
             "--MappingKernelManager.cull_idle_timeout=2", "--MappingKernelManager.cull_interval=1"],
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def api(path, method="GET"):
        req = urllib.request.Request(f"{base}{path}", method=method, data=b"{}" if method == "POST" else None,
                                     headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    async def connected_until_culled(kernel_id, deadline):
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={token}")
        try:
            while time.monotonic() < deadline:
                if kernel_id not in {k["id"] for k in api("/api/kernels")}:
                    return True
                await asyncio.sleep(0.5)
            return False
        finally:
            ws.close()

    try:
        for _ in range(240):
            try:
                api("/api/status")
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.25)
        else:
            server.poll()
        if server.returncode is not None or _ == 239:
            pytest.fail(f"the server did not start:\n{log.read_text()[-2000:]}")
        kernel = api("/api/kernels", "POST")
        culled = asyncio.run(connected_until_culled(kernel["id"], time.monotonic() + 45))
        text = log.read_text()
        assert "Culling kernels even with connected clients" in text, text[-2000:]  # from binder/jupyter/
        assert culled, f"the idle, connected kernel was not culled:\n{text[-2000:]}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


# ------------------------------------------------------------------------------------------- repo copy
def _repo_files() -> list[str]:
    """Tracked + untracked-but-not-ignored files (what a push of the working tree would contain)."""
    if shutil.which("git") and (REPO / ".git").exists():
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, check=True).stdout.decode()
        return sorted({f for f in out.split("\0") if f and (REPO / f).is_file()})
    skip = {".git", ".venv", "venv", ".pytest_cache", ".hypothesis", "__pycache__", "build", "dist", "results"}
    return sorted(str(p.relative_to(REPO)) for p in REPO.rglob("*")
                  if p.is_file() and not (set(p.relative_to(REPO).parts) & skip) and ".egg-info" not in str(p))


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("binder") / "repo"
    for rel in _repo_files():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst / rel)
    shutil.copytree(BINDER, dst / "binder", dirs_exist_ok=True)  # binder/ always, even if not committed yet
    return dst


# --------------------------------------------------------------------------------------------- repo2docker
@pytest.mark.slow
def test_repo2docker_picks_binder_dir(repo_copy):
    try:
        import repo2docker  # noqa: F401
    except ImportError:
        pytest.fail("jupyter-repo2docker is not installed: " + INSTALL_HINT, pytrace=False)
    t0 = time.monotonic()
    # uid 1000 / jovyan as on mybinder.org (locally repo2docker would default to the current user, root here)
    proc = subprocess.run([sys.executable, "-m", "repo2docker", "--no-build", "--debug", "--user-id", "1000",
                           "--user-name", "jovyan", str(repo_copy)], capture_output=True, text=True, timeout=120,
                          cwd=repo_copy.parent)
    out = proc.stdout + proc.stderr
    print(f"\n[binder] repo2docker --no-build --debug: rc {proc.returncode} in {time.monotonic() - t0:.1f} s")
    assert proc.returncode == 0, out[-3000:]
    ver = runtime_version()
    assert f"Building conda environment for python={ver}" in out, out[:1500]
    req = re.search(r'RUN \$\{KERNEL_PYTHON_PREFIX\}/bin/pip install --no-cache-dir -r "?binder/requirements\.txt"?',
                    out)
    copy_src = re.search(r"COPY --chown=1000:1000 src/ \$\{REPO_DIR\}/", out)
    post = re.search(r"^RUN \./binder/postBuild\s*$", out, re.M)
    assert req, "Dockerfile does not install binder/requirements.txt:\n" + out[-4000:]
    assert copy_src, "Dockerfile does not copy the repository (as uid 1000)"
    assert post, "Dockerfile does not run ./binder/postBuild"
    assert req.start() < copy_src.start() < post.start(), "unexpected order of the build steps"
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in out, "binder/start is not the entrypoint"
    # root-level pyproject.toml must be ignored (binder/ wins), so no second install of the package
    assert not re.search(r"pip install --no-cache-dir (-e )?\.\s*$", out, re.M)


# ---------------------------------------------------------------------------------- replay of the build
def _python_for(version: str) -> str | None:
    if "%d.%d" % sys.version_info[:2] == version:
        return sys.executable
    return shutil.which(f"python{version}")


def _run(cmd, *, env, cwd, timeout, what):
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    dt = time.monotonic() - t0
    print(f"[binder] {what}: rc {proc.returncode} in {dt:.1f} s")
    if proc.returncode != 0:
        tail = "\n".join(ln for ln in (proc.stdout + proc.stderr).splitlines() if "is ignored" not in ln)[-4000:]
        pytest.fail(f"{what} failed (rc {proc.returncode}):\n{tail}", pytrace=False)
    return proc, dt


@pytest.mark.slow
def test_binder_build_replay_runs_start_notebook(repo_copy, tmp_path):
    ver = runtime_version()
    python = _python_for(ver)
    if python is None:  # the image would use runtime.txt's Python; we can only approximate it
        python = sys.executable
        print(f"[binder] python{ver} not found; replaying with {sys.version.split()[0]}")
    nb_path = repo_copy / START_NOTEBOOK
    if not nb_path.exists():
        pytest.fail(f"{START_NOTEBOOK} (the README badge target) does not exist", pytrace=False)

    home = tmp_path / "home"
    home.mkdir()
    venv = tmp_path / "binder-venv"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER_", "JPY_", "VIRTUAL_ENV", "PYTHON", "CONDA", "MPLBACKEND", "TF_"))
           and k != "IPYTHONDIR"}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               PIP_DISABLE_PIP_VERSION_CHECK="1", USER="jovyan",
               # keep the machine's pip cache despite the throwaway HOME (Binder would download)
               PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")))
    t_all = time.monotonic()
    _run([python, "-m", "venv", str(venv)], env=env, cwd=tmp_path, timeout=120, what="python -m venv")
    vpy = str(venv / "bin" / "python")
    # the two build steps, as in the Dockerfile: requirements first (from the repo root), then postBuild
    _run([vpy, "-m", "pip", "install", "-q", "--no-compile", "-r", "binder/requirements.txt"], env=env, cwd=repo_copy,
         timeout=420, what="pip install -r binder/requirements.txt")
    _run(["./binder/postBuild"], env=env, cwd=repo_copy, timeout=240, what="binder/postBuild")
    _run([vpy, "-m", "pip", "check"], env=env, cwd=repo_copy, timeout=120, what="pip check")

    probe = ("import importlib.metadata as md, json, cftkit, tensorflow as tf, sys\n"
             "names = {d.metadata['Name'].lower().replace('_', '-') for d in md.distributions()}\n"
             "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'tf': tf.__version__,"
             " 'cpu': 'tensorflow-cpu' in names, 'cuda_tf': 'tensorflow' in names, 'cftkit': cftkit.__file__}))")
    proc, _ = _run([vpy, "-c", probe], env={**env, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"},
                   cwd=tmp_path, timeout=120, what="import probe")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"[binder] replay env: {info}")
    assert info["cpu"] and not info["cuda_tf"], info
    assert Path(info["cftkit"]).resolve().is_relative_to(repo_copy.resolve()), "cftkit is not the repo's (editable)"

    # launch-time behaviour: binder/start wraps the command, the kernel runs in the notebook's directory
    out_dir = tmp_path / "executed"
    _run(["./binder/start", str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
          "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.kernel_name=python3",
          "--output-dir", str(out_dir), START_NOTEBOOK],
         env=env, cwd=repo_copy, timeout=420, what=f"execute {START_NOTEBOOK} via binder/start")
    executed = json.loads((out_dir / nb_path.name).read_text())
    errors, stderr = [], []
    for i, cell in enumerate(executed["cells"]):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                errors.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}")
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                stderr.append(f"cell {i}: {''.join(o.get('text', ''))[:300]}")
    assert not errors, errors
    if stderr:
        print("[binder] stderr outputs (not fatal):\n" + "\n".join(stderr))
    n_code = sum(c["cell_type"] == "code" for c in executed["cells"])
    print(f"[binder] {START_NOTEBOOK}: {n_code} code cells ran; replay total {time.monotonic() - t_all:.1f} s")
