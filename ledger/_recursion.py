"""Keep the interpreter's recursion limit at CPython's default (a guard against hostile input).

py_ecc (imported by eth_account through eth_keyfile, for BLS keyfiles the ledger never uses)
raises the limit to 100,000 when first imported. C code that guards its recursion with that
limit, the ``json`` decoder among it, then overflows the C stack (a segfault) on a ~140 KB body
of nested arrays before the guard trips. Importing py_ecc here first and putting the limit back
means its one-time raise is spent: a hostile document raises ``RecursionError`` instead.
Nothing the ledger runs recurses deeper than the default (the whole test suite runs with it).
"""

from __future__ import annotations

import contextlib
import sys

#: CPython's default limit; deep enough for every format the ledger reads.
SAFE_RECURSION_LIMIT = 1000


def cap_recursion_limit() -> None:
    with contextlib.suppress(ImportError):  # gone from the dependencies: nothing raises it
        import py_ecc  # noqa: F401  (its first import raises the limit; spend that here)

    if sys.getrecursionlimit() > SAFE_RECURSION_LIMIT:
        sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
