"""The request as the ``http-message-signatures`` resolvers read it: an upper-case method, the
encoded absolute URL, and the header field lines (``items()`` in wire order)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: Components every request signature covers (RFC 9421 §2.2), and its signature parameters.
REQUIRED_COMPONENTS = ("@method", "@target-uri", "content-digest")
REQUIRED_PARAMETERS = ("created", "nonce", "keyid", "alg")


class FieldLines:
    """Read-only header field lines (name, value) in the order they arrived."""

    def __init__(self, lines: Sequence[tuple[str, str]]) -> None:
        self._lines = list(lines)

    def items(self) -> Iterable[tuple[str, str]]:
        return iter(self._lines)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._lines)

    def names(self) -> set[str]:
        return {name.lower() for name, _ in self._lines}


@dataclass(frozen=True)
class Message:
    """A request to sign (``headers`` mutable: the signature fields are written into it) or to
    verify (``headers`` a :class:`FieldLines`)."""

    method: str
    url: str
    headers: Any
