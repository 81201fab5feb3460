"""The examples in the task modules' docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "tasks.base",
    "tasks.beam",
    "tasks.commonsense",
    "tasks.commonsense_scripts",
    "tasks.commonsense_sets",
    "tasks.extract",
    "tasks.gsm8k",
    "tasks.lm_eval_protocols",
    "tasks.real",
    "tasks.real.extract",
    "tasks.real.splits",
    "tasks.wikitext2",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert result.attempted > 0, f"{name} shows no example"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples fail"
