"""Build the lessons from their text sources: ``notebooks/src/NN_name.py`` → ``notebooks/NN_name.ipynb``
(executed, the instructor version) → ``notebooks/student/NN_name.ipynb`` (nbgrader's student version).

The source of truth of every lesson is a jupytext *percent* script in ``notebooks/src/`` (markdown cells
are ``# %% [markdown]`` comments; an exercise's cells carry nbgrader metadata in their header, e.g.
``# %% nbgrader={"grade": false, "grade_id": "div_by_hand", "locked": false, "schema_version": 3,
"solution": true, "task": false}``).  The instructor notebook is paired with it (``"jupytext": {"formats":
"ipynb,src//py:percent"}`` in its metadata), so that with jupytext installed (the ``lab`` extra) JupyterLab
saves both files whichever one is open.  Usage, from the repository root::

    python notebooks/_tools/build.py              # every lesson: source → executed notebook → student copy
    python notebooks/_tools/build.py 00 03        # only these lessons
    python notebooks/_tools/build.py --no-execute 05   # text-only edit: keep the stored outputs (refused
                                                       # when a code cell changed)
    python notebooks/_tools/build.py --student-only    # only rewrite notebooks/student/ from the notebooks
    python notebooks/_tools/build.py --check      # no kernel: exit 1 if a notebook or a student copy is stale
    python notebooks/_tools/build.py --course [DIR]    # an nbgrader course folder (default notebooks/_course)

Executing runs each notebook in a fresh ``python3`` kernel with nbclient (timeout 600 s per cell, working
directory ``notebooks/``), with ``TF_CPP_MIN_LOG_LEVEL=3``, ``TF_ENABLE_ONEDNN_OPTS=0`` and without
``MPLBACKEND`` (the inline backend must emit the figures); every other variable is inherited.  A lesson
whose execution fails is not written.

Conventions of a lesson (nbval strict compares every stored output; tests/test_notebooks.py checks
the structure):

* the first cell is markdown (title, launch links to the student copy on Binder and Colab, learning
  goals); the last one is "What to try next";
* the first code cell installs cftkit on Colab only (plain Python, no output elsewhere); the next sets
  ``TF_CPP_MIN_LOG_LEVEL`` and ``TF_ENABLE_ONEDNN_OPTS`` before anything imports TensorFlow and ends with a
  statement (no ``'0'`` output); the next imports cftkit, the lesson's checks
  (``from cftkit.exercises import lessonNN as ex``) and calls ``cftkit.seed_everything(seed, threads=2)``
  before any TensorFlow op;
* an exercise is a markdown prompt, a *solution cell* (nbgrader ``solution: true``; the solution between
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines, the same code as ``ex.<name>.solution()``) and a
  locked *test cell* (nbgrader ``grade: true`` with ``points``) that calls ``ex.<name>.assert_correct(...)``
  and, between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``, ``ex.<name>.assert_hidden(...)``;
  no later cell depends on an exercise;
* ``verbose=0`` / ``progress=False``; printed numbers are rounded; no timings, paths or memory addresses
  in outputs; plotting cells end with ``plt.show()`` (or assign the plot); widgets left as the last
  expression have short fixed reprs.

Student copies: nbgrader's ``generate_assignment`` (no database, one call for all lessons, in a temporary
course folder with ``notebooks/_tools/nbgrader_config.py``) turns every solution region into
``# YOUR CODE HERE`` / ``raise NotImplementedError()`` and drops the hidden tests; before that, outputs,
execution timestamps, the saved widget state and the jupytext pairing are removed (a student's notebook is
a plain ``.ipynb``).  ``notebooks/student/`` holds exactly what ``nbgrader generate_assignment`` releases
for the course folder that ``--course`` writes.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent
SRC = NOTEBOOKS / "src"
STUDENT = NOTEBOOKS / "student"
PAIRING = "ipynb,src//py:percent"  # notebooks/NN_name.ipynb <-> notebooks/src/NN_name.py
TEXT_FORMAT = "py:percent"
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
TIMEOUT = 600
COURSE_CONFIG = HERE / "nbgrader_config.py"  # the course's nbgrader settings (copied into every course folder)
COURSE = NOTEBOOKS / "_course"  # the default course folder of --course (ignored by git)
NBGRADER_HINT = "nbgrader is not installed: pip install -e '.[course]'  (or .[test])"
# the only lines of a source that depend on the installed jupytext rather than on the lesson
_VERSION_LINE = re.compile(r"^#\s+(jupytext_version|format_version):.*$", re.M)
_COMMAND = "python notebooks/_tools/build.py"


# ------------------------------------------------------------------------------------------ paths
def lessons() -> list[str]:
    """The lessons' names (``NN_name``), one per source file."""
    return sorted(p.stem for p in SRC.glob("[0-9][0-9]_*.py"))


def source_path(name: str) -> pathlib.Path:
    return SRC / f"{name}.py"


def notebook_path(name: str) -> pathlib.Path:
    return NOTEBOOKS / f"{name}.ipynb"


def student_path(name: str) -> pathlib.Path:
    return STUDENT / f"{name}.ipynb"


def select(keys) -> list[str]:
    """Lessons named by number (``03``), name (``03_energy_and_divergence``) or path; all when none."""
    names = lessons()
    if not keys:
        return names
    chosen = []
    for key in keys:
        stem = pathlib.Path(key).stem
        match = [n for n in names if n == stem or n.split("_", 1)[0] == stem]
        if len(match) != 1:
            raise SystemExit(f"no lesson {key!r} in {SRC.relative_to(NOTEBOOKS.parent)} (lessons: {', '.join(names)})")
        chosen += [m for m in match if m not in chosen]
    return chosen


# ---------------------------------------------------------------------------------- text <-> notebook
def normalise(text: str) -> str:
    """A source's text without the version lines of jupytext's header (they vary with the jupytext install)."""
    return _VERSION_LINE.sub("", text)


def notebook_text(nb) -> str:
    """The percent-script text of a notebook, exactly as jupytext writes the paired file when saving it."""
    import jupytext

    return jupytext.writes(nb, fmt=TEXT_FORMAT)


def text_of_notebook_file(path: pathlib.Path) -> str:
    import jupytext

    return notebook_text(jupytext.reads(path.read_text(encoding="utf-8"), fmt="ipynb"))


def read_source(name: str):
    """The lesson's notebook (no outputs) from its source, with the pairing metadata."""
    import jupytext

    nb = jupytext.reads(source_path(name).read_text(encoding="utf-8"), fmt=TEXT_FORMAT)
    meta = dict(nb.metadata.get("jupytext", {}))
    meta.pop("text_representation", None)  # lives in the text file only (jupytext drops it from paired .ipynb)
    meta["formats"] = PAIRING
    nb.metadata["jupytext"] = meta
    return nb


def keep_cell_ids(nb, old) -> None:
    """Give ``nb``'s cells the ids of the matching cells of the previous notebook (stable diffs): equal
    cells, and edited cells that stayed in place, keep their id; new cells keep jupytext's fresh one."""
    if old is None:
        return
    key = lambda c: (c.cell_type, c.source)  # noqa: E731
    matcher = difflib.SequenceMatcher(None, [key(c) for c in old.cells], [key(c) for c in nb.cells], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace"):
            for a, b in zip(old.cells[i1:i2], nb.cells[j1:j2]):
                if a.cell_type == b.cell_type and "id" in a:
                    b["id"] = a["id"]


def keep_outputs(nb, old, name: str) -> None:
    """``--no-execute``: take the outputs from the previous notebook; refuse when a code cell changed."""
    if old is None:
        raise SystemExit(f"{name}: no notebook yet, so nothing to keep; build it without --no-execute")
    old_code = [c for c in old.cells if c.cell_type == "code"]
    new_code = [c for c in nb.cells if c.cell_type == "code"]
    changed = [i for i, (a, b) in enumerate(zip(old_code, new_code)) if a.source != b.source]
    if len(old_code) != len(new_code) or changed:
        where = f"code cell {changed[0] + 1}" if changed else f"{len(old_code)} → {len(new_code)} code cells"
        raise SystemExit(f"{name}: the code changed ({where}), so the stored outputs would be stale; "
                         f"run {_COMMAND} {name[:2]} (without --no-execute)")
    for a, b in zip(old_code, new_code):
        b.outputs, b.execution_count = copy.deepcopy(a.outputs), a.execution_count
        if "execution" in a.metadata:
            b.metadata["execution"] = copy.deepcopy(a.metadata["execution"])
    for k in ("language_info", "widgets"):
        if k in old.metadata:
            nb.metadata[k] = copy.deepcopy(old.metadata[k])


def execute(nb) -> float:
    """Run ``nb`` in place in a fresh kernel (working directory notebooks/); return the wall time."""
    from nbclient import NotebookClient

    saved = dict(os.environ)
    os.environ.update(KERNEL_ENV)
    os.environ.pop("MPLBACKEND", None)  # the inline backend must emit the figures
    try:
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        return time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ----------------------------------------------------------------------------------- student copies
def course_source(nb: dict) -> dict:
    """The instructor notebook as nbgrader's source (a new dict): no outputs, no execution timestamps, no saved
    widget state, no jupytext pairing."""
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["outputs"] = []
        cell["execution_count"] = None
        cell.setdefault("metadata", {}).pop("execution", None)  # nbclient's timestamps change on every run
    meta = out.get("metadata", {})
    meta.pop("widgets", None)  # saved widget state belongs to the executed copy
    meta.pop("jupytext", None)  # no pairing: the student copy has no source file of its own
    return out


def render(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write_course(root: pathlib.Path, names, notebooks: dict | None = None) -> pathlib.Path:
    """An nbgrader course folder: ``root/nbgrader_config.py`` and ``root/source/NN_name/NN_name.ipynb`` for
    every lesson in ``names`` (from ``notebooks`` when given, else from ``notebooks/NN_name.ipynb``)."""
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(COURSE_CONFIG, root / "nbgrader_config.py")
    for name in names:
        nb = notebooks[name] if notebooks is not None else json.loads(notebook_path(name).read_text(encoding="utf-8"))
        folder = root / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.ipynb").write_text(render(course_source(nb)), encoding="utf-8")
    return root


def nbgrader(args, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in a course folder, isolated from the user's Jupyter configuration."""
    if importlib.util.find_spec("nbgrader") is None:
        raise SystemExit(NBGRADER_HINT)
    # nbgrader's gradebook runs `alembic` from PATH: put this Python's scripts first (an unactivated venv)
    scripts = str(pathlib.Path(sys.executable).parent)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(pathlib.Path(cwd) / ".jupyter"),
               PATH=scripts + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def student_versions(names, notebooks: dict | None = None) -> dict:
    """``{name: student copy (a dict)}``: nbgrader's ``generate_assignment`` for all ``names`` at once."""
    names = list(names)
    if not names:
        return {}
    with tempfile.TemporaryDirectory(prefix="cftkit-course-") as tmp:
        root = write_course(pathlib.Path(tmp), names, notebooks)
        nbgrader(["generate_assignment", "*", "--no-db", "--force"], cwd=root)
        return {name: json.loads((root / "release" / name / f"{name}.ipynb").read_text(encoding="utf-8"))
                for name in names}


def student_texts(names) -> dict:
    return {name: render(nb) for name, nb in student_versions(names).items()}


def write_student(names) -> None:
    STUDENT.mkdir(parents=True, exist_ok=True)
    for name, text in student_texts([names] if isinstance(names, str) else names).items():
        student_path(name).write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------------------ commands
def build(name: str, run: bool = True) -> None:
    import nbformat

    nb = read_source(name)
    path = notebook_path(name)
    old = nbformat.read(path, as_version=4) if path.exists() else None
    keep_cell_ids(nb, old)
    if run:
        print(f"{name}: executing ...", flush=True)
        wall = execute(nb)
        how = f"executed in {wall:.0f} s"
    else:
        keep_outputs(nb, old, name)
        how = "outputs kept"
    nbformat.validate(nb)
    nbformat.write(nb, path)
    write_student(name)
    src = source_path(name)
    text = text_of_notebook_file(path)
    if normalise(text) != normalise(src.read_text(encoding="utf-8")):  # jupytext's canonical form of the source
        src.write_text(text, encoding="utf-8")
        how += f"; rewrote {src.relative_to(NOTEBOOKS.parent)} as jupytext writes it"
    print(f"{name}: wrote {path.relative_to(NOTEBOOKS.parent)} ({how}) and the student copy", flush=True)


def stale() -> list[str]:
    """Problems that ``--check`` reports (empty when everything is up to date)."""
    problems = []
    names = lessons()
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        if path.stem not in names:
            problems.append(f"{path.name} has no source {source_path(path.stem).relative_to(NOTEBOOKS.parent)}")
    for name in names:
        nb, src = notebook_path(name), source_path(name)
        if not nb.exists():
            problems.append(f"{name}: notebook missing; run {_COMMAND} {name[:2]}")
            continue
        if normalise(text_of_notebook_file(nb)) != normalise(src.read_text(encoding="utf-8")):
            problems.append(f"{name}: {nb.name} and src/{src.name} differ; run {_COMMAND} {name[:2]} "
                            f"(or, if you edited the notebook without jupytext: jupytext --sync notebooks/{nb.name})")
    present = [name for name in names if notebook_path(name).exists()]
    for name, text in student_texts(present).items():
        stu = student_path(name)
        if not stu.exists() or stu.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: student copy stale; run {_COMMAND} --student-only")
    for path in sorted(STUDENT.glob("*.ipynb")):
        if path.stem not in names:
            problems.append(f"student/{path.name} has no source {source_path(path.stem).relative_to(NOTEBOOKS.parent)}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-execute", action="store_true",
                      help="keep the stored outputs (only for edits outside code cells)")
    mode.add_argument("--student-only", action="store_true", help="only rewrite notebooks/student/")
    mode.add_argument("--check", action="store_true", help="exit 1 if a notebook or a student copy is stale")
    mode.add_argument("--course", nargs="?", const=str(COURSE), metavar="DIR",
                      help=f"write an nbgrader course folder (source/ and nbgrader_config.py; default "
                           f"{COURSE.relative_to(NOTEBOOKS.parent)})")
    args = parser.parse_args(argv)
    names = select(args.lessons)
    if args.course:
        root = write_course(pathlib.Path(args.course), names)
        print(f"wrote the course folder {root} ({len(names)} lessons in source/); in it run, e.g.:\n"
              f"  nbgrader generate_assignment {names[0]}\n  nbgrader autograde {names[0]}")
        return 0
    if args.check:
        problems = stale()
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    if args.student_only:
        write_student(names)
        return 0
    if "MPLBACKEND" in os.environ and not args.no_execute:
        print(f"note: MPLBACKEND={os.environ['MPLBACKEND']} is not passed to the kernel", file=sys.stderr)
    for name in names:
        try:
            build(name, run=not args.no_execute)
        except Exception as err:  # nbclient's CellExecutionError carries the cell and its traceback
            if type(err).__name__ not in ("CellExecutionError", "DeadKernelError", "CellTimeoutError"):
                raise
            print(f"{name}: execution failed, {notebook_path(name).name} not written:\n{err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
