"""Generate the student copies of the lessons: one source (the instructor notebooks), two versions.

Every code cell tagged ``solution`` becomes a stub that raises ``NotImplementedError`` (tagged
``raises-exception`` so nbclient/nbval accept it), and all outputs are cleared so students run the
notebook themselves.  ``--check`` exits 1 when the committed copies are stale.

    python notebooks/_src/make_student.py            # write notebooks/student/*.ipynb
    python notebooks/_src/make_student.py --check    # CI: are they up to date?
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent
STUDENT = NOTEBOOKS / "student"
STUB = ("# Exercise: write your solution here (the task is in the cell above).\n"
        "raise NotImplementedError(\"exercise left for you: the instructor notebook has a solution\")")


def student_version(nb: dict) -> dict:
    """The student copy of a notebook (a new dict; the input is not modified)."""
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = cell.setdefault("metadata", {}).get("tags", [])
        if "solution" in tags:
            cell["source"] = STUB
            cell["metadata"]["tags"] = [t for t in tags if t != "solution"] + ["exercise", "raises-exception"]
        cell["outputs"] = []
        cell["execution_count"] = None
        cell["metadata"].pop("execution", None)  # nbclient's timestamps change on every run
    out.get("metadata", {}).pop("widgets", None)  # saved widget state belongs to the executed copy
    return out


def render(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def sources() -> list:
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if notebooks/student/ is out of date")
    parser.add_argument("--out", default=str(STUDENT), help="output directory")
    args = parser.parse_args(argv)
    out_dir = pathlib.Path(args.out)
    stale = []
    for path in sources():
        text = render(student_version(json.loads(path.read_text())))
        target = out_dir / path.name
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if stale:
        print(f"student copies are stale: {stale}; run python notebooks/_src/make_student.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
