"""Unit tests of analyzer.constants: the safe evaluator and cross-file values."""

from __future__ import annotations

import pytest

from analyzer.constants import evaluate, evaluate_expr, literal_value, to_python
from analyzer.records import Constant


def C(name, expr, file="include/x.h", line=1, kind="define", value=None):  # noqa: N802
    return Constant(name, kind, expr, file, line, value)


@pytest.mark.parametrize("expr, value", [
    ("1", 1), ("0x10", 16), ("010", 8), ("0", 0), ("4096UL", 4096), ("(1 << 4)", 16),
    ("~0U", 2**32 - 1), ("-7 / 2", -3), ("-7 % 2", -1), ("(1 << 3) | 2", 10), ("!0", 1),
    ("(int)5 + (unsigned long)2", 7), ("3 > 2 && 1", 1), ("2 == 3 || 0", 0),
])
def test_literal_expressions(expr, value):
    assert evaluate_expr(expr) == value


@pytest.mark.parametrize("expr", [
    "sizeof(int)", '"str"', "FOO", "a ? b : c", "1 / 0", "1 << 100000", "__import__('os')",
    "(lambda: 1)()", "2 ** 8", "[1][0]", "x.y",
])
def test_not_computable_gives_none(expr):
    assert evaluate_expr(expr) is None


def test_never_eval():
    assert to_python("__import__('os').system('true')") is None


def test_literal_value_has_no_names():
    assert literal_value("0x3") == 3 and literal_value("AF_INET") is None


def test_evaluate_through_defines_and_enums():
    consts = [C("PF_INET", "AF_INET"), C("AF_INET", "2"),
              C("A", "0", kind="enum", value=0), C("B", "A + 1", kind="enum"),
              C("MASK", "(1 << B) - 1")]
    assert evaluate(consts) == {"A": 0, "AF_INET": 2, "B": 1, "MASK": 1, "PF_INET": 2}


def test_self_reference_falls_back_to_the_other_definition():
    consts = [C("IPPROTO_TCP", "IPPROTO_TCP", "include/uapi/linux/in.h", 37),
              C("IPPROTO_TCP", "6", "include/uapi/linux/in.h", 36, kind="enum", value=6)]
    assert evaluate(consts)["IPPROTO_TCP"] == 6


def test_generic_definition_wins_over_arch():
    consts = [C("SOCK_STREAM", "2", "arch/mips/include/asm/socket.h", 5, kind="enum", value=2),
              C("SOCK_STREAM", "1", "include/linux/net.h", 64, kind="enum", value=1)]
    assert evaluate(consts)["SOCK_STREAM"] == 1
    assert evaluate(list(reversed(consts)))["SOCK_STREAM"] == 1


def test_cycles_and_unknowns_are_left_out():
    assert evaluate([C("X", "Y"), C("Y", "X + 1"), C("Z", "W")]) == {}


def test_complement_of_unsigned_literals_is_unsigned():
    """``LONG_MAX`` is ``((long)(~0UL>>1))``: ``~0UL`` is 2**64 - 1 on x86-64,
    not Python's -1 (whose shift stays -1)."""
    assert evaluate_expr("((long)(~0UL>>1))") == 2**63 - 1
    assert evaluate_expr("(~0UL)") == 2**64 - 1
    assert evaluate_expr("((int)(~0U>>1))") == 2**31 - 1
    assert evaluate_expr("~0") == -1  # a signed int stays signed
