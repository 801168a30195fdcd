"""The lessons: structure, text sources (notebooks/src/*.py, jupytext percent) in step with the executed
notebooks, student copies (nbgrader's release of the same notebooks), and a student copy that runs.

The instructor notebooks themselves are executed and compared with their stored outputs by nbval
(`.ci/run` passes `--nbval` for notebooks/*.ipynb).  `notebooks/_tools/build.py` makes them from
their sources; the tests here need no kernel except the one marked slow.
"""

import difflib
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"
NOTEBOOKS = sorted(NB.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted((NB / "src").glob("[0-9][0-9]_*.py"))
BUILD_SCRIPT = NB / "_tools" / "build.py"
_spec = importlib.util.spec_from_file_location("cftkit_lesson_build", BUILD_SCRIPT)
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


INSTALL_HINT = "pip install -e '.[cpu,lab,test]'   (jupytext is in the `lab` extra)"


def _load(path):
    return json.loads(path.read_text())


def _jupytext():
    """jupytext, or a failure (not a skip: without it the sources could drift from the notebooks unseen)."""
    try:
        import jupytext
        import jupytext.paired_paths  # noqa: F401
    except ImportError:
        pytest.fail("jupytext is not installed: " + INSTALL_HINT, pytrace=False)
    return jupytext


def _tags(cells):
    return [list(c.get("metadata", {}).get("tags", [])) for c in cells]


def _nbgrader(cell) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def _is_solution(cell) -> bool:
    return bool(_nbgrader(cell).get("solution"))


def _is_test(cell) -> bool:
    return bool(_nbgrader(cell).get("grade")) and not _is_solution(cell)


def test_there_are_nine_numbered_lessons():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(9)]


def test_every_lesson_has_one_text_source():
    assert [p.stem for p in SOURCES] == [p.stem for p in NOTEBOOKS]
    assert build.lessons() == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_structure(path):
    nb = _load(path)
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert cells[0]["cell_type"] == "markdown"
    install, env = "".join(code[0]["source"]), "".join(code[1]["source"])
    assert '"google.colab" in sys.modules' in install and "import tensorflow" not in install  # Colab only
    assert "TF_CPP_MIN_LOG_LEVEL" in env and "TF_ENABLE_ONEDNN_OPTS" in env  # quiet TF before its import
    assert any("seed_everything" in "".join(c["source"]) for c in code)
    solutions, tests = [c for c in code if _is_solution(c)], [c for c in code if _is_test(c)]
    assert len(solutions) >= 2 and len(tests) == len(solutions), "two exercises, each with a test cell"
    for sol in solutions:
        text = "".join(sol["source"])
        assert "### BEGIN SOLUTION" in text and "### END SOLUTION" in text, _nbgrader(sol)["grade_id"]
    for test in tests:
        assert _nbgrader(test)["locked"] and _nbgrader(test)["points"] > 0
        assert ".assert_correct(" in "".join(test["source"]), _nbgrader(test)["grade_id"]
    assert not any("solution" in t for t in _tags(cells)), "the old tag convention (nbgrader metadata now)"
    assert "try next" in "".join(cells[-1]["source"]).lower()
    assert all(c["execution_count"] is not None for c in code if "".join(c["source"]).strip()), "unexecuted"
    for c in code:
        for o in c.get("outputs", []):
            assert o["output_type"] != "error", "stored outputs contain an error"
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            assert " at 0x" not in text, "a memory address in an output"


# ----------------------------------------------------------------------------- text sources (jupytext)
def _source_mismatch(ipynb: pathlib.Path, source: pathlib.Path) -> str:
    """'' when the notebook's cells are exactly its source file, else a unified diff (first 40 lines).

    Compares content, not jupytext's mtime-based sync (mtimes are arbitrary after a git clone): the
    notebook converted to percent text by jupytext, as JupyterLab writes the paired file on save, against
    the file's text; only the version lines of jupytext's header are ignored."""
    jupytext = _jupytext()
    text = jupytext.writes(jupytext.reads(ipynb.read_text(encoding="utf-8"), fmt="ipynb"), fmt="py:percent")
    want, have = build.normalise(text), build.normalise(source.read_text(encoding="utf-8"))
    if want == have:
        return ""
    diff = difflib.unified_diff(have.splitlines(), want.splitlines(), f"src/{source.name}",
                                f"{ipynb.name} (as text)", lineterm="")
    return "\n".join(list(diff)[:40])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_matches_its_source(path):
    diff = _source_mismatch(path, NB / "src" / f"{path.stem}.py")
    if diff:
        pytest.fail(f"notebooks/src/{path.stem}.py and notebooks/{path.name} differ. After editing the source: "
                    f"python notebooks/_tools/build.py {path.name[:2]}; after editing the notebook without "
                    f"jupytext: jupytext --sync notebooks/{path.name}\n{diff}", pytrace=False)


def test_the_source_check_catches_an_edit_without_rebuild(tmp_path):
    ipynb, source = NOTEBOOKS[3], NB / "src" / f"{NOTEBOOKS[3].stem}.py"
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    assert _source_mismatch(ipynb, copy) == ""
    text = source.read_text(encoding="utf-8")
    for old, new in (("# %% [markdown]\n# # 03 · ", "# %% [markdown]\n# # 03 (edited) · "),  # a markdown cell
                     ("seed_everything(0", "seed_everything(1"),                              # a code cell
                     ('"points": 1,', '"points": 2,')):                                       # nbgrader metadata
        assert old in text
        copy.write_text(text.replace(old, new, 1), encoding="utf-8")
        assert _source_mismatch(ipynb, copy), f"editing {old!r} went unnoticed"
    copy.write_text(text.replace("jupytext_version: ", "jupytext_version: 0.0.0-", 1), encoding="utf-8")
    assert _source_mismatch(ipynb, copy) == "", "another jupytext version is not a change of the lesson"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_and_tags_survive_the_round_trip(path):
    jupytext = _jupytext()
    nb = _load(path)
    text_nb = jupytext.read(NB / "src" / f"{path.stem}.py", fmt="py:percent")
    assert [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]] == \
        [(c.cell_type, c.source) for c in text_nb.cells]
    assert _tags(nb["cells"]) == _tags(text_nb.cells)  # any nbval tags (raises-exception, ...)
    assert [_nbgrader(c) for c in nb["cells"]] == [_nbgrader(c) for c in text_nb.cells]  # nbgrader's cells
    assert any(_is_solution(c) for c in text_nb.cells)
    assert '# %% nbgrader={' in (NB / "src" / f"{path.stem}.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_pairing_metadata(path):
    paired_paths = _jupytext().paired_paths
    formats = _load(path)["metadata"].get("jupytext", {}).get("formats")
    assert formats == build.PAIRING == "ipynb,src//py:percent"
    pair = {str(NB / path.name), str(NB / "src" / f"{path.stem}.py")}
    assert {p for p, _ in paired_paths.paired_paths(str(path), "ipynb", formats)} == pair
    assert {p for p, _ in paired_paths.paired_paths(str(NB / "src" / f"{path.stem}.py"), "py:percent",
                                                    formats)} == pair
    assert "jupytext" not in _load(NB / "student" / path.name)["metadata"], "pairing in a student copy"


def test_jupyterlab_save_keeps_the_pair_in_step(tmp_path):
    """JupyterLab with jupytext (its contents manager): opening the .ipynb and saving it rewrites the
    source; opening the .py as a notebook brings the stored outputs; the pair is still in step."""
    jupytext = _jupytext()
    if importlib.util.find_spec("jupyter_server") is None:  # JupyterLab's server, home of the contents manager
        pytest.fail("jupyter_server is not installed: " + INSTALL_HINT, pytrace=False)
    name = NOTEBOOKS[3].stem
    (tmp_path / "src").mkdir()
    shutil.copy(NOTEBOOKS[3], tmp_path / f"{name}.ipynb")
    shutil.copy(NB / "src" / f"{name}.py", tmp_path / "src" / f"{name}.py")
    cm = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    nb = cm.get(f"{name}.ipynb")["content"]
    nb.cells[0].source = nb.cells[0].source.replace("03 ·", "03 (edited) ·", 1)
    cm.save({"type": "notebook", "content": nb}, f"{name}.ipynb")
    assert "# # 03 (edited) · " in (tmp_path / "src" / f"{name}.py").read_text(encoding="utf-8")
    assert _source_mismatch(tmp_path / f"{name}.ipynb", tmp_path / "src" / f"{name}.py") == ""
    as_text = cm.get(f"src/{name}.py")["content"]
    assert as_text.cells[0].source.startswith("# 03 (edited) · ")
    assert sum(len(c.get("outputs", [])) for c in as_text.cells) == \
        sum(len(c.get("outputs", [])) for c in _load(NOTEBOOKS[3])["cells"]) > 0


def test_build_without_execution_keeps_outputs_and_refuses_code_edits(tmp_path, monkeypatch):
    _jupytext()
    name = NOTEBOOKS[3].stem
    (tmp_path / "src").mkdir()
    shutil.copy(NOTEBOOKS[3], tmp_path / f"{name}.ipynb")
    shutil.copy(NB / "src" / f"{name}.py", tmp_path / "src" / f"{name}.py")
    monkeypatch.setattr(build, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(build, "SRC", tmp_path / "src")
    monkeypatch.setattr(build, "STUDENT", tmp_path / "student")
    src = tmp_path / "src" / f"{name}.py"
    text = src.read_text(encoding="utf-8")
    build.build(name, run=False)  # unchanged source: the notebook is rewritten byte for byte
    assert (tmp_path / f"{name}.ipynb").read_text() == NOTEBOOKS[3].read_text()
    assert (tmp_path / "student" / f"{name}.ipynb").read_text() == (NB / "student" / f"{name}.ipynb").read_text()
    src.write_text(text.replace("# # 03 · ", "# # 03 (edited) · ", 1), encoding="utf-8")
    build.build(name, run=False)  # a markdown edit: outputs and cell ids kept
    before, after = _load(NOTEBOOKS[3]), _load(tmp_path / f"{name}.ipynb")
    assert "".join(after["cells"][0]["source"]).startswith("# 03 (edited) · ")
    assert [c.get("outputs") for c in after["cells"]] == [c.get("outputs") for c in before["cells"]]
    assert [c["id"] for c in after["cells"]] == [c["id"] for c in before["cells"]]
    assert build.stale() == []
    src.write_text(text.replace("seed_everything(0", "seed_everything(1", 1), encoding="utf-8")
    with pytest.raises(SystemExit, match="code changed"):
        build.build(name, run=False)
    assert _load(tmp_path / f"{name}.ipynb") == after, "a refused build must not write"
    assert any("differ" in p for p in build.stale())


# ------------------------------------------------------------------------------------- student copies
def test_build_check_passes():
    """`build.py --check` (CI-friendly, no kernel): notebooks in step with their sources, student copies
    up to date."""
    proc = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _student(path):
    return _load(NB / "student" / path.name)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_hides_solutions(path):
    """The committed student copy (nbgrader's release, checked to be current by build.py --check): every
    solution region is a stub, hidden tests are gone, everything else is the instructor's cell."""
    source, student = _load(path), _student(path)
    assert len(source["cells"]) == len(student["cells"])
    for a, b in zip(source["cells"], student["cells"]):
        sa, sb = "".join(a["source"]), "".join(b["source"])
        if _is_solution(a):
            solved = sa.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip()
            assert "raise NotImplementedError()" in sb and solved not in sb and "BEGIN SOLUTION" not in sb
        elif "### BEGIN HIDDEN TESTS" in sa:
            assert sb == sa.split("### BEGIN HIDDEN TESTS")[0].rstrip("\n") or sb.strip() == \
                sa.split("### BEGIN HIDDEN TESTS")[0].strip()
            assert "assert_hidden" not in sb
        else:
            assert sa == sb
        if b["cell_type"] == "code":
            assert b["outputs"] == [] and b["execution_count"] is None
    assert "jupytext" in source["metadata"] and "jupytext" not in student["metadata"]


# A student copy running on its own (every cell outside the exercises without an error) is shown by
# tests/test_exercises.py::test_nbgrader_autograde_one_lesson, which executes one through nbgrader.
