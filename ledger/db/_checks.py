"""Argument validators of the repositories of :mod:`ledger.db`: each checks one argument of a
public method (an agreement ID, a role, a hash of the right size, an aware datetime, a new
signature, wrapped document keys...) and raises ``ValueError`` naming what is malformed.
They read no stored state; what contradicts it is the caller's to refuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ledger._ids import AGREEMENT_ID, ROLE
from ledger.agreement import MAX_SIGNERS
from ledger.db.records import NewSignature

#: The shortest DER SM2 signature the schema accepts (a CHECK constraint of ``signatures``).
MIN_SIGNATURE_BYTES = 8


def check_new_signature(sig: NewSignature) -> None:
    if not isinstance(sig, NewSignature):
        raise ValueError(f"expected a NewSignature, got {type(sig).__name__}")
    check_role(sig.role)
    check_aware("signed_at", sig.signed_at)
    check_bytes("public_key", sig.public_key, 65)
    check_bytes("distid", sig.distid)
    check_signature_bytes(sig.signature)


def check_wrapped_keys(wrapped_keys: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    if not isinstance(wrapped_keys, Mapping):
        raise ValueError("wrapped_keys maps reader key fingerprints to wrapped keys")
    for fingerprint, wrapped in wrapped_keys.items():
        check_bytes("reader key fingerprint", fingerprint, 32)
        check_bytes("wrapped key", wrapped)
    return dict(wrapped_keys)


def check_role(role: str) -> None:
    if not isinstance(role, str) or not ROLE.match(role):
        raise ValueError(f"a role is 1-32 of [a-z0-9_-], starting with a letter: {role!r}")


def check_signature_bytes(signature: bytes) -> None:
    check_bytes("signature", signature)
    if len(signature) < MIN_SIGNATURE_BYTES:
        raise ValueError(f"a DER signature is at least {MIN_SIGNATURE_BYTES} bytes")


def opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def check_agreement_id(agreement_id: str) -> None:
    if not isinstance(agreement_id, str) or not AGREEMENT_ID.match(agreement_id):
        raise ValueError(f"agreement IDs look like agr_<32 hex>, got {agreement_id!r}")


def check_version(version: int) -> None:
    check_int("version", version, minimum=1)


def check_int(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_bytes(name: str, value: bytes, size: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise ValueError(f"{name} must be bytes, got {type(value).__name__}")
    if size is None and not value:
        raise ValueError(f"{name} must not be empty")
    if size is not None and len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def check_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def check_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def check_roles(roles: Sequence[str]) -> tuple[str, ...]:
    if isinstance(roles, str):
        raise ValueError("required_roles is a sequence of roles, not one string")
    checked = tuple(roles)
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"required_roles must be distinct and not empty, got {checked!r}")
    if len(checked) > MAX_SIGNERS:
        raise ValueError(f"at most {MAX_SIGNERS} signing roles, got {len(checked)}")
    for role in checked:
        check_role(role)
    return checked
