"""The procedural GSM8K sample (tasks/data/gen/gsm8k_synth.py): answers recomputed from the worked
solutions, seeded, disjoint; its doctest runs too."""

import ast
import importlib.util
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from tasks.base import parse_source
from tasks.gsm8k import read_items

GEN = Path(__file__).resolve().parents[1] / "tasks" / "data" / "gen"
_spec = importlib.util.spec_from_file_location("gsm8k_synth", GEN / "gsm8k_synth.py")
gsm8k_synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gsm8k_synth)
TEMPLATES, split_items = gsm8k_synth.TEMPLATES, gsm8k_synth.split_items

STEP = re.compile(r"<<([^=<>]+)=([^<>]+)>>([^\s]+)")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
# constants a solution may use without taking them from the question: minutes per hour, a dozen,
# per cent, and the two sides of a rectangle
CONSTANTS = {Fraction(60), Fraction(12), Fraction(100), Fraction(2)}


def calc(expr: str) -> Fraction:
    """An independent exact evaluator of + - * / expressions."""
    ops = {ast.Add: "__add__", ast.Sub: "__sub__", ast.Mult: "__mul__", ast.Div: "__truediv__"}

    def walk(node):
        if isinstance(node, ast.BinOp):
            return getattr(walk(node.left), ops[type(node.op)])(walk(node.right))
        assert isinstance(node, ast.Constant), ast.dump(node)
        return Fraction(str(node.value))

    return walk(ast.parse(expr, mode="eval").body)


def check(item: dict) -> None:
    question, answer = item["question"], item["answer"]
    lines = answer.splitlines()
    assert lines[-1].startswith("#### ")
    known = {Fraction(n) for n in NUMBER.findall(question.replace(",", ""))}
    steps = STEP.findall(answer)
    assert steps, answer
    result = None
    for expr, stated, shown in steps:
        result = calc(expr)
        assert result == Fraction(stated) == Fraction(shown), (expr, stated, shown)
        for operand in NUMBER.findall(expr):
            assert Fraction(operand) in known | CONSTANTS, (operand, question, answer)
        known.add(result)
    assert Fraction(lines[-1][5:]) == result
    assert result > 0


def test_every_worked_solution_recomputes_to_its_answer():
    for split in ("train", "test"):
        items = split_items(split, n_train=600, n_test=100, seed=3)
        for item in items:
            check(item)


def test_every_template_is_used_and_verified():
    items = split_items("train", n_train=400, n_test=50, seed=1)
    openings = {it["answer"].splitlines()[0].split(" ")[0] for it in items}
    assert len(openings) >= 6
    names = {t.__name__ for t in TEMPLATES}
    assert {"shopping", "rates", "fractions", "ages", "areas", "multistep"} <= names


def test_deterministic_per_seed_and_different_across_seeds():
    a = split_items("train", n_train=200, n_test=40, seed=7)
    b = split_items("train", n_train=200, n_test=40, seed=7)
    c = split_items("train", n_train=200, n_test=40, seed=8)
    assert a == b
    assert a != c


def test_train_and_test_are_disjoint():
    train = split_items("train", n_train=2000, n_test=100, seed=0)
    test = split_items("test", n_train=2000, n_test=100, seed=0)
    assert len(train) == 2000 and len(test) == 100
    assert not {t["question"] for t in train} & {t["question"] for t in test}

    # not even the same arithmetic under other names: compare the solutions' number sequences
    def arithmetic(item):
        return tuple(NUMBER.findall(item["answer"]))

    assert not {arithmetic(t) for t in train} & {arithmetic(t) for t in test}


def test_the_sample_source_serves_the_generated_splits():
    src = parse_source("sample")
    test = read_items(src, "test")
    assert len(test) == 100 and len(read_items(src, "train", 5)) == 5
    assert test == split_items("test")
    assert all(Decimal(t["answer"].rsplit("#### ", 1)[1]) > 0 for t in test)


def test_the_generator_docstring_example_runs():
    import doctest

    result = doctest.testmod(gsm8k_synth, report=False)
    assert result.attempted > 0 and result.failed == 0
