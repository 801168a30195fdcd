"""Every ``>>>`` example in cftkit's docstrings runs and prints what it says (the Keras-style docs)."""

import doctest
import importlib
import pkgutil

import pytest

import cftkit

MODULES = sorted(m.name for m in pkgutil.walk_packages(cftkit.__path__, prefix="cftkit."))


def test_every_module_is_listed():
    assert {"cftkit.training", "cftkit.search", "cftkit.evaluation.protocol", "cftkit.datasets.synthetic"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False,
                             report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed"
