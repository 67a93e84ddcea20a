"""Every `>>>` example in towpath's docstrings runs and prints what it shows (sqlglot's tests/test_docs.py)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import towpath

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(towpath.__path__, "towpath.")
    if ".samples.recipes." not in name  # recipe folders are templates a user copies, not package modules
    and not name.startswith("towpath.airflow")  # imports Apache Airflow, which lives in its own venv (tests/airflow)
)


def _examples(name: str) -> list[doctest.DocTest]:
    return [test for test in doctest.DocTestFinder().find(importlib.import_module(name)) if test.examples]


WITH_EXAMPLES = [name for name in MODULES if _examples(name)]


def test_the_package_has_examples_to_run() -> None:
    assert len(WITH_EXAMPLES) >= 3, WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _examples(name):
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples in {name} failed (see the output above)"
