"""House rules the test suite holds itself to (developers' guide): a refusal is asserted with
its error class and its message, and a test that needs a real part fails without it, never
skips."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def _is_pytest(call: ast.Call, *names: str) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in names
        and isinstance(func.value, ast.Name | ast.Attribute)
        and (
            getattr(func.value, "id", None) == "pytest" or getattr(func.value, "attr", "") == "mark"
        )
    )


def test_every_pytest_raises_names_its_message() -> None:
    """Every ``pytest.raises`` anywhere under tests/ names the message too (``match=``)."""
    missing = [
        f"{path.relative_to(TESTS)}:{call.lineno}"
        for path in sorted(TESTS.rglob("*.py"))
        for call in _calls(path)
        if _is_pytest(call, "raises") and not any(k.arg == "match" for k in call.keywords)
    ]
    assert missing == [], f"pytest.raises without match=: {missing}"


def test_no_test_skips() -> None:
    skipping = [
        f"{path.relative_to(TESTS)}:{call.lineno}"
        for path in sorted(TESTS.rglob("*.py"))
        for call in _calls(path)
        if _is_pytest(call, "skip", "skipif", "importorskip")
    ]
    assert skipping == [], f"tests that skip instead of failing: {skipping}"
