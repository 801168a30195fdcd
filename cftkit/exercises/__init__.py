"""Checks for the lessons' exercises: a clear pass, or a hint that says what is wrong.

Every lesson ``notebooks/NN_name.ipynb`` has a module ``cftkit.exercises.lessonNN`` with one
:class:`Exercise` per exercise (two or more per lesson)::

    from cftkit.exercises import lesson03 as ex

    ex.div_by_hand.check(energies, div, ridge, model=ct, batch=tuples["CT"])   # ✓ Correct, or ✗ + what to fix
    ex.div_by_hand.hint()                                                      # a hint
    ex.div_by_hand.solution()                                                  # the solution code

A check computes the expected answer itself, from the lesson's objects passed as keywords (the model,
the search result, the dataset ...), compares with tolerances and recognises common mistakes (a wrong
sign, a missing square, a sum instead of a mean, the ℓ2 instead of the ℓ1 distance ...), each with its
own hint.  Where an exercise asks for a function, the check calls it on the lesson's data.

For graders (nbgrader): each exercise's test cell calls :meth:`Exercise.assert_correct` (prints ✓ or raises
``AssertionError`` with the hint) and, between ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``,
:meth:`Exercise.assert_hidden` (the student's function on inputs it has not seen; values at a tighter
tolerance).  :func:`all_exercises` lists every exercise of every lesson.
"""

from __future__ import annotations

import importlib

from ._core import Exercise, Feedback, Mistake

LESSONS = tuple(f"{i:02d}" for i in range(9))

__all__ = ["Exercise", "Feedback", "Mistake", "LESSONS", "lesson", "all_exercises"] + [f"lesson{n}" for n in LESSONS]


def lesson(number) -> "module":  # noqa: F821
    """The exercise module of a lesson: ``lesson("03")`` or ``lesson(3)`` is ``cftkit.exercises.lesson03``."""
    key = f"{int(number):02d}" if not isinstance(number, str) else number[:2]
    if key not in LESSONS:
        raise ValueError(f"no lesson {number!r}; lessons: {', '.join(LESSONS)}")
    return importlib.import_module(f"{__name__}.lesson{key}")


def all_exercises() -> list:
    """Every :class:`Exercise` of every lesson, in lesson order."""
    return [ex for n in LESSONS for ex in lesson(n).EXERCISES]


def __getattr__(name):  # ``from cftkit.exercises import lesson03`` without importing all nine
    if name.startswith("lesson") and name[6:] in LESSONS:
        return lesson(name[6:])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
