"""The machinery behind the lessons' exercise checks: :class:`Exercise`, :class:`Mistake` and small helpers
that turn a student's answer into numbers and name what is wrong with it.

An exercise's *grade* function receives the student's answers (positional) and the lesson's objects
(keywords), computes the expected answer itself from those objects and raises :class:`Mistake` with a
specific hint when an answer is wrong; it may return a short note that the pass message shows.  Its
optional *hidden* function does the same for the autograder's hidden tests (a student's function on inputs
it has not seen, or the values at a tighter tolerance).
"""

from __future__ import annotations

import inspect
import math
import numbers
import textwrap
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np

#: default tolerances: answers computed with NumPy in float64 against TensorFlow's float32
RTOL, ATOL = 1e-3, 1e-5
#: the hidden tests' tolerances for values (the same computation gives the same numbers)
STRICT_RTOL, STRICT_ATOL = 1e-5, 1e-7


class Mistake(Exception):
    """A diagnosed mistake in an answer; its message says what is wrong and how to fix it."""


class Feedback(NamedTuple):
    """The outcome of a check: ``passed`` and the message shown to the student (✓ … or ✗ …)."""

    passed: bool
    message: str


class Exercise:
    """One exercise of a lesson, in the style of Kaggle Learn's ``check()`` / ``hint()`` / ``solution()``.

    Args:
        lesson: the lesson's number (``"03"``).
        name: the attribute name in the lesson's module; also the nbgrader ``grade_id`` of the solution
            cell (the test cell's is ``name + "_test"``).
        title: one line that says what the exercise asks.
        answers: the names of the answers, in the order ``check`` takes them.
        grade: ``grade(*answers, **context)``: raises :class:`Mistake`, or returns an optional note.
        hint: the text :meth:`hint` prints.
        solution: the solution code (the lesson's solution cell without nbgrader's markers).
        hidden: ``hidden(*answers, **context)`` for the hidden tests (default: ``grade`` at the
            strict tolerances, see :data:`STRICT_RTOL`).
        points: the test cell's nbgrader points.

    Example:
        >>> import numpy as np
        >>> from cftkit.exercises import Exercise, Mistake
        >>> def grade(total, *, values):
        ...     if not np.isclose(total, np.sum(values)):
        ...         raise Mistake("`total` is not the sum of `values`")
        >>> q = Exercise("00", "total", "Add up the values", ("total",), grade, hint="np.sum", solution="...")
        >>> q.check(6, values=[1, 2, 3])
        ✓ Correct.
        True
        >>> q.check(5, values=[1, 2, 3])  # doctest: +NORMALIZE_WHITESPACE
        ✗ `total` is not the sum of `values`
          (ex.total.hint() gives a hint, ex.total.solution() shows a solution)
        False
    """

    def __init__(self, lesson: str, name: str, title: str, answers: Iterable[str], grade: Callable, *,
                 hint: str, solution: str, hidden: Callable | None = None, points: int = 1):
        self.lesson, self.name, self.title = str(lesson), str(name), str(title)
        self.answers = tuple(answers)
        self._grade, self._hidden = grade, hidden
        self._hint = textwrap.dedent(hint).strip()
        self.solution_code = textwrap.dedent(solution).strip("\n")
        self.points = int(points)

    # ------------------------------------------------------------------------------------- identity
    @property
    def grade_id(self) -> str:
        """The nbgrader ``grade_id`` of the solution cell."""
        return self.name

    @property
    def test_id(self) -> str:
        """The nbgrader ``grade_id`` of the test cell."""
        return f"{self.name}_test"

    def __repr__(self):
        args = ", ".join(self.answers)
        return (f"<exercise {self.lesson} · {self.name}: {self.title}. Check with "
                f"ex.{self.name}.check({args}, ...); ex.{self.name}.hint(), ex.{self.name}.solution()>")

    # -------------------------------------------------------------------------------------- checking
    def _pointer(self) -> str:
        return f"  (ex.{self.name}.hint() gives a hint, ex.{self.name}.solution() shows a solution)"

    def _run(self, fn: Callable, args, kwargs, **extra):
        bound = _bind(fn, args, kwargs, self.name)
        for name in self.answers:
            if name in bound.arguments:
                _require_answer(bound.arguments[name], name)
        return fn(*bound.args, **bound.kwargs, **extra)

    def feedback(self, *answers, **context) -> Feedback:
        """The check's outcome without printing anything (what :meth:`check` prints)."""
        try:
            note = self._run(self._grade, answers, context)
        except Mistake as err:
            return Feedback(False, f"✗ {err}\n{self._pointer()}")
        return Feedback(True, "✓ Correct." + (f" {note}" if note else ""))

    def check(self, *answers, **context) -> bool:
        """Print ✓ or ✗ with what to fix; return whether the answer is right (never raises for a wrong one)."""
        result = self.feedback(*answers, **context)
        print(result.message)
        return result.passed

    def assert_correct(self, *answers, **context) -> None:
        """The autograder's visible test: print ✓, or raise ``AssertionError`` with the hint."""
        __tracebackhide__ = True  # noqa: F841  (pytest and IPython hide this frame)
        result = self.feedback(*answers, **context)
        if not result.passed:
            raise AssertionError(result.message)
        print(result.message)

    def hidden_feedback(self, *answers, **context) -> Feedback:
        """The hidden tests' outcome (silent)."""
        try:
            if self._hidden is not None:
                self._run(self._hidden, answers, context)
            else:
                self._run(self._grade, answers, context, strict=True)
        except Mistake as err:
            return Feedback(False, f"✗ (hidden test) {err}")
        return Feedback(True, "✓ hidden tests passed.")

    def assert_hidden(self, *answers, **context) -> None:
        """The autograder's hidden tests: silent when they pass, ``AssertionError`` when not."""
        __tracebackhide__ = True  # noqa: F841
        result = self.hidden_feedback(*answers, **context)
        if not result.passed:
            raise AssertionError(result.message)

    # ----------------------------------------------------------------------------------- help
    def hint(self) -> None:
        """Print a hint."""
        print(f"Hint: {self._hint}")

    def solution(self) -> None:
        """Print a solution (the code of the instructor's solution cell)."""
        print(self.solution_code)


# ------------------------------------------------------------------------------------------ binding
def _bind(fn, args, kwargs, exercise):
    try:
        return inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as err:
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "strict"]
        usage = ", ".join(p.name if p.kind != p.KEYWORD_ONLY else f"{p.name}=…" for p in params)
        raise TypeError(f"ex.{exercise}.check({usage}): {err}") from None


def _require_answer(value, name):
    if value is None or value is Ellipsis or value is NotImplemented:
        raise Mistake(f"`{name}` has no value yet: write your solution in the cell above, run it, then run "
                      f"this check again")


# ------------------------------------------------------------------------------------------ helpers
def call(fn, *args, name: str, **kwargs):
    """Call a student's function; a failure becomes a :class:`Mistake` that names it."""
    if not callable(fn):
        raise Mistake(f"`{name}` should be a function (def {name}(...): ...); got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise Mistake(f"`{name}` still raises NotImplementedError: replace the `raise NotImplementedError()` "
                      f"line with your code") from None
    except Mistake:
        raise
    except Exception as err:  # noqa: BLE001  (any error of the student's code is feedback)
        raise Mistake(f"`{name}(...)` raised {type(err).__name__}: {err}") from None


def number(value, name: str) -> float:
    """``value`` as a finite float (a 0-d or 1-element array is accepted)."""
    if isinstance(value, bool):
        raise Mistake(f"`{name}` should be a number; got a bool ({value})")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Mistake(f"`{name}` should be a number; got {type(value).__name__}") from None
    if arr.size != 1:
        raise Mistake(f"`{name}` should be one number; got an array of shape {arr.shape} (take its mean, or "
                      f"the element you want)")
    out = float(arr.reshape(()))
    if not math.isfinite(out):
        raise Mistake(f"`{name}` is {out}: look for a division by zero or a log of 0")
    return out


def array(value, name: str, shape: tuple | None = None, dtype=np.float64) -> np.ndarray:
    """``value`` as an array (of ``shape`` where given; ``None`` entries of ``shape`` are free)."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise Mistake(f"`{name}` should be an array of numbers; got {type(value).__name__}") from None
    if shape is not None:
        ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
        if not ok:
            want = "(" + ", ".join("…" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise Mistake(f"`{name}` should have shape {want}; got {arr.shape}")
    return arr


def close(got, want, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two numbers or arrays agree (same shape, NaN equal to NaN)."""
    a, b = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def tolerances(strict: bool) -> dict:
    """``rtol``/``atol`` for :func:`close`: the default ones, or the hidden tests' strict ones."""
    return dict(rtol=STRICT_RTOL, atol=STRICT_ATOL) if strict else dict(rtol=RTOL, atol=ATOL)


def diagnose(got, candidates: Mapping[str, Any], default: str, rtol: float = RTOL, atol: float = ATOL):
    """Raise :class:`Mistake` with the message of the first candidate that ``got`` matches, else ``default``.

    ``candidates`` maps a message to the value a particular mistake would give (callables are evaluated
    lazily, so an expensive alternative is only computed when the cheaper ones did not match).
    """
    for message, value in candidates.items():
        if callable(value):
            try:
                value = value()
            except Exception:  # noqa: BLE001  (an alternative that cannot be computed matches nothing)
                continue
        if value is not None and close(got, value, rtol, atol):
            raise Mistake(message)
    raise Mistake(default)


def mapping(value, name: str, keys: Iterable, what: str = "keys") -> dict:
    """``value`` as a dict with exactly ``keys`` (numeric keys are matched by value: 5 == 5.0)."""
    keys = list(keys)
    if not isinstance(value, Mapping):
        shown = ", ".join(repr(k) for k in keys)
        raise Mistake(f"`{name}` should be a dict with the {what} {shown}; got {type(value).__name__}")

    def norm(k):
        if isinstance(k, numbers.Real) and not isinstance(k, bool):
            return float(k)
        if isinstance(k, np.generic):
            return k.item()
        return k

    given = {norm(k): v for k, v in value.items()}
    missing = [k for k in keys if norm(k) not in given]
    extra = [k for k in given if k not in {norm(k) for k in keys}]
    if missing:
        raise Mistake(f"`{name}` has no entry for {', '.join(repr(k) for k in missing)} (it needs the {what} "
                      f"{', '.join(repr(k) for k in keys)})")
    if extra:
        raise Mistake(f"`{name}` has unexpected {what} {', '.join(repr(k) for k in extra)} (it needs "
                      f"{', '.join(repr(k) for k in keys)})")
    return {k: given[norm(k)] for k in keys}


def rng(seed: int = 0) -> np.random.Generator:
    """The hidden tests' random inputs (seeded: the same inputs for every student)."""
    return np.random.default_rng(1000 + seed)
