"""Argument validators of :mod:`ledger.db.database`: each checks one argument of a public method
of :class:`~ledger.db.database.Database` (an agreement ID, a role, a hash of the right size, an
aware datetime, a new signature, wrapped document keys...) and raises ``ValueError`` naming what
is malformed. They read no stored state; what contradicts it is the caller's to refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ledger._ids import AGREEMENT_ID, ROLE
from ledger.agreement import MAX_SIGNERS
from ledger.db.records import NewSignature

#: The shortest DER SM2 signature the schema accepts (a CHECK constraint of ``signatures``).
_MIN_SIGNATURE_BYTES = 8


def _check_new_signature(sig: NewSignature) -> None:
    if not isinstance(sig, NewSignature):
        raise ValueError(f"expected a NewSignature, got {type(sig).__name__}")
    _check_role(sig.role)
    _check_aware("signed_at", sig.signed_at)
    _check_bytes("public_key", sig.public_key, 65)
    _check_bytes("distid", sig.distid)
    _check_signature_bytes(sig.signature)


def _check_wrapped_keys(wrapped_keys: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    if not isinstance(wrapped_keys, Mapping):
        raise ValueError("wrapped_keys maps reader key fingerprints to wrapped keys")
    for fingerprint, wrapped in wrapped_keys.items():
        _check_bytes("reader key fingerprint", fingerprint, 32)
        _check_bytes("wrapped key", wrapped)
    return dict(wrapped_keys)


def _check_role(role: str) -> None:
    if not isinstance(role, str) or not ROLE.match(role):
        raise ValueError(f"a role is 1-32 of [a-z0-9_-], starting with a letter: {role!r}")


def _check_signature_bytes(signature: bytes) -> None:
    _check_bytes("signature", signature)
    if len(signature) < _MIN_SIGNATURE_BYTES:
        raise ValueError(f"a DER signature is at least {_MIN_SIGNATURE_BYTES} bytes")


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _check_agreement_id(agreement_id: str) -> None:
    if not isinstance(agreement_id, str) or not AGREEMENT_ID.match(agreement_id):
        raise ValueError(f"agreement IDs look like agr_<32 hex>, got {agreement_id!r}")


def _check_version(version: int) -> None:
    _check_int("version", version, minimum=1)


def _check_int(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_bytes(name: str, value: bytes, size: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise ValueError(f"{name} must be bytes, got {type(value).__name__}")
    if size is None and not value:
        raise ValueError(f"{name} must not be empty")
    if size is not None and len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _check_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _check_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def _check_roles(roles: Sequence[str]) -> tuple[str, ...]:
    if isinstance(roles, str):
        raise ValueError("required_roles is a sequence of roles, not one string")
    checked = tuple(roles)
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"required_roles must be distinct and not empty, got {checked!r}")
    if len(checked) > MAX_SIGNERS:
        raise ValueError(f"at most {MAX_SIGNERS} signing roles, got {len(checked)}")
    for role in checked:
        _check_role(role)
    return checked
