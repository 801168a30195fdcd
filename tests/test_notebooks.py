"""The lessons: structure, student copies (one source, two versions), and a student copy that runs.

The instructor notebooks themselves are executed and compared with their stored outputs by nbval
(`.ci/run` passes `--nbval` for notebooks/*.ipynb).
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"
NOTEBOOKS = sorted(NB.glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(NB / "_src"))
import make_student  # noqa: E402


def _load(path):
    return json.loads(path.read_text())


def test_there_are_nine_numbered_lessons():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(9)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_structure(path):
    nb = _load(path)
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert cells[0]["cell_type"] == "markdown"
    first = "".join(code[0]["source"])
    assert "TF_CPP_MIN_LOG_LEVEL" in first and "TF_ENABLE_ONEDNN_OPTS" in first  # quiet TF before import
    assert any("seed_everything" in "".join(c["source"]) for c in code)
    assert any("solution" in c.get("metadata", {}).get("tags", []) for c in code), "no exercise"
    assert "try next" in "".join(cells[-1]["source"]).lower()
    assert all(c["execution_count"] is not None for c in code if "".join(c["source"]).strip()), "unexecuted"
    for c in code:
        for o in c.get("outputs", []):
            assert o["output_type"] != "error", "stored outputs contain an error"
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            assert " at 0x" not in text, "a memory address in an output"


def test_student_copies_are_up_to_date():
    proc = subprocess.run([sys.executable, str(NB / "_src" / "make_student.py"), "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_hides_solutions(path):
    source, student = _load(path), make_student.student_version(_load(path))
    assert len(source["cells"]) == len(student["cells"])
    for a, b in zip(source["cells"], student["cells"]):
        if "solution" in a.get("metadata", {}).get("tags", []):
            assert "NotImplementedError" in "".join(b["source"])
            assert "raises-exception" in b["metadata"]["tags"]
            assert "".join(a["source"]).strip() not in "".join(b["source"])
        else:
            assert a["source"] == b["source"]
        if b["cell_type"] == "code":
            assert b["outputs"] == [] and b["execution_count"] is None


@pytest.mark.slow
def test_student_copy_of_the_first_lesson_runs(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.reads(json.dumps(make_student.student_version(_load(NOTEBOOKS[0]))), as_version=4)
    env_before = dict(os.environ)
    os.environ.update(TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    os.environ.pop("MPLBACKEND", None)
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(NB)}})
        client.execute()  # cells tagged raises-exception may raise; any other error fails here
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    stubs = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    assert stubs and all(any(o.get("ename") == "NotImplementedError" for o in c.outputs) for c in stubs)
