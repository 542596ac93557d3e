"""Whether a member may be given a customer's attested fields now: the one home of the rule.

Member B asks the attesting member A to release fields of an attestation under a consent grant.
Before anything is written or released, A's service decides with :func:`check_release`, from
what the chain holds *now* (the attestation, the grant as recorded, every recorded revocation;
read fresh, never a cached copy) and how often the grant was used. Each refusal is its own
:class:`ReleaseRefused` subclass, saying what failed; a refused request leaves no receipt and
releases nothing (the caller writes the receipt only after this passed).

The checks, in order (numbered as in the code):

1. the caller is the grant's grantee, and the grant is for this attestation;
2. the grant's signature verifies under the key the attestation binds (else it is *inert*:
   anyone may have relayed it);
3. the attestation is valid now (verified, not expired, revoked or superseded);
4. the grant is in its window now: recorded, ``not_before`` reached, ``not_after`` not;
5. no revocation whose signature verifies took effect at or before now;
6. every field asked for is in the grant (and attested), the purpose is one of the grant's;
7. uses are left (``max_uses`` 0: unlimited);
8. in ``per-use`` mode, a use authorization signed by the customer's key for exactly this
   request (grant, grantee, fields, purpose) made within ``freshness`` of now (its nonce is
   the caller's to remember, so it is used once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from eth_utils.address import to_checksum_address

from ledger.chain._binding import name_id
from ledger.chain.attestations import Attestation
from ledger.chain.consent import (
    GrantRecord,
    Mode,
    RevocationRecord,
    effective_revocation,
    signs,
)
from ledger.crypto.sm2 import SM2PublicKey
from ledger.customer.documents import SignedUse
from ledger.errors import LedgerError

__all__ = [
    "DEFAULT_FRESHNESS",
    "AttestationNotValid",
    "FieldOutOfScope",
    "GrantExpired",
    "GrantInert",
    "GrantNotYetValid",
    "GrantRevoked",
    "NotGrantee",
    "PerUseAuthorizationInvalid",
    "PerUseAuthorizationMissing",
    "PerUseAuthorizationReplayed",
    "PurposeOutOfScope",
    "ReleaseRefused",
    "ReleaseRequest",
    "UsesExhausted",
    "check_parties",
    "check_release",
    "check_scope",
    "uses_left",
]

#: How old a per-use authorization may be when the release is asked for.
DEFAULT_FRESHNESS = timedelta(minutes=5)
#: How far ahead of the service's clock a per-use authorization may be (signer clock skew).
MAX_SKEW_S = 30


class ReleaseRefused(LedgerError):
    """A release that may not happen; the subclass says which check failed."""


class NotGrantee(ReleaseRefused):
    """The caller is not the member the grant names (or the grant is another attestation's)."""


class GrantInert(ReleaseRefused):
    """The grant's signature does not verify under the attestation's customer key."""


class AttestationNotValid(ReleaseRefused):
    """The attestation is expired, revoked, superseded, or not valid yet."""


class GrantNotYetValid(ReleaseRefused):
    """The grant's window has not begun (or it was recorded later than now)."""


class GrantExpired(ReleaseRefused):
    """The grant's window is over."""


class GrantRevoked(ReleaseRefused):
    """The customer revoked the grant (a revocation whose signature verifies took effect)."""


class FieldOutOfScope(ReleaseRefused):
    """A field asked for is not in the grant (or not attested)."""


class PurposeOutOfScope(ReleaseRefused):
    """The purpose stated is not one the grant allows."""


class UsesExhausted(ReleaseRefused):
    """The grant's maximum number of uses is reached."""


class PerUseAuthorizationMissing(ReleaseRefused):
    """The grant is ``per-use`` and the request carries no use authorization."""


class PerUseAuthorizationInvalid(ReleaseRefused):
    """The use authorization is not the customer's for exactly this request, or is stale."""


class PerUseAuthorizationReplayed(ReleaseRefused):
    """The use authorization was used already: one authorization covers one release (the
    service's database holds each one used; :func:`check_release` cannot see it)."""


@dataclass(frozen=True)
class ReleaseRequest:
    """What the caller asks for: fields (names) of the grant's attestation, for a purpose, and
    in ``per-use`` mode the customer's signed authorization (the customer's own document)."""

    grant_id: bytes
    caller: str
    fields: tuple[str, ...]
    purpose: str
    use: SignedUse | None = None


def check_release(
    request: ReleaseRequest,
    *,
    grant: GrantRecord,
    revocations: Sequence[RevocationRecord],
    attestation: Attestation,
    uses: int,
    now: int,
    chain_id: int,
    registry: str,
    freshness: timedelta = DEFAULT_FRESHNESS,
) -> None:
    """Return if the release may happen at ``now`` (UNIX seconds), else raise the
    :class:`ReleaseRefused` of the first check that fails (see the module docstring).
    ``uses``: receipts already written under the grant; ``registry``: the ConsentRegistry's
    address (the domain of the per-use signature)."""
    terms = grant.grant
    shown = "0x" + grant.grant_id.hex()
    # 1. the grantee, this attestation
    check_parties(request.grant_id, request.caller, grant=grant, attestation=attestation)
    # 2. signed by the key the attestation binds
    customer_key = attestation.customer_key
    if not grant.signed_by(customer_key):
        raise GrantInert(
            f"grant {shown} is inert: its signature does not verify under the attestation's"
            f" customer key (relayed by {grant.relayer})"
        )
    # 3. the attestation, now
    if not attestation.valid_at(now):
        raise AttestationNotValid(
            f"attestation 0x{attestation.attestation_id.hex()} is not valid at {now}: valid"
            f" from {attestation.verified_at} until {attestation.ends_at}"
        )
    # 4. the grant's window
    starts = grant.starts_at
    if now < starts:
        raise GrantNotYetValid(f"grant {shown} is valid from {starts}, not yet at {now}")
    if now >= terms.not_after:
        raise GrantExpired(f"grant {shown} expired at {terms.not_after}")
    # 5. revocations, as the chain holds them now
    revoked = effective_revocation(revocations, customer_key)
    if revoked is not None and revoked.at <= now:
        raise GrantRevoked(f"grant {shown} was revoked by its customer at {revoked.at}")
    # 6. scope
    check_scope(request.fields, request.purpose, grant=grant, attestation=attestation)
    # 7. uses left
    if not uses_left(terms.max_uses, uses):
        raise UsesExhausted(f"grant {shown} allows {terms.max_uses} uses; all are used")
    # 8. per-use mode: the customer authorized this very request, recently
    if terms.mode is Mode.PER_USE:
        _check_use(
            request,
            grant,
            customer_key=customer_key,
            now=now,
            chain_id=chain_id,
            registry=registry,
            freshness=freshness,
        )


def check_parties(
    grant_id: bytes, caller: str, *, grant: GrantRecord, attestation: Attestation
) -> None:
    """Check 1: ``caller`` is the grant's grantee, the grant is ``grant_id`` and it is for
    ``attestation``; else :class:`NotGrantee`."""
    shown = "0x" + grant.grant_id.hex()
    if grant_id != grant.grant_id:
        raise NotGrantee(f"the request names grant 0x{grant_id.hex()}, not {shown}")
    if caller.lower() != grant.grant.grantee.lower():  # accounts: hex, any case
        raise NotGrantee(f"grant {shown} is for {grant.grant.grantee}, not {caller}")
    if grant.grant.attestation_id != attestation.attestation_id:
        raise NotGrantee(f"grant {shown} is for another attestation")


def check_scope(
    fields: Sequence[str], purpose: str, *, grant: GrantRecord, attestation: Attestation
) -> None:
    """Check 6: every field is in the grant and attested, the purpose one of the grant's; else
    :class:`FieldOutOfScope` or :class:`PurposeOutOfScope`."""
    shown = "0x" + grant.grant_id.hex()
    for field in fields:
        field_id = name_id(field)
        if field_id not in grant.grant.fields or attestation.field_digest(field_id) is None:
            raise FieldOutOfScope(f"field {field!r} is not in the scope of grant {shown}")
    if not fields:
        raise FieldOutOfScope("a release names at least one field")
    if name_id(purpose) not in grant.grant.purposes:
        raise PurposeOutOfScope(f"purpose {purpose!r} is not one grant {shown} allows")


def uses_left(max_uses: int, uses: int) -> bool:
    """Check 7: whether a grant of ``max_uses`` (0: unlimited) used ``uses`` times may be used
    once more."""
    return not max_uses or uses < max_uses


def _check_use(
    request: ReleaseRequest,
    grant: GrantRecord,
    *,
    customer_key: SM2PublicKey,
    now: int,
    chain_id: int,
    registry: str,
    freshness: timedelta,
) -> None:
    shown = "0x" + grant.grant_id.hex()
    if request.use is None:
        raise PerUseAuthorizationMissing(
            f"grant {shown} is per-use: each release needs the customer's signed authorization"
        )
    signed = request.use
    if (signed.domain.chain_id, signed.domain.registry.lower()) != (chain_id, registry.lower()):
        raise PerUseAuthorizationInvalid(
            "the use authorization was signed for another chain or ConsentRegistry"
        )
    use = signed.use
    expected = (
        grant.grant_id,
        to_checksum_address(request.caller),
        tuple(name_id(f) for f in request.fields),
        name_id(request.purpose),
    )
    stated = (use.grant_id, to_checksum_address(use.grantee), tuple(use.fields), use.purpose)
    if stated != expected:
        raise PerUseAuthorizationInvalid(
            "the use authorization is for another grant, grantee, fields or purpose than this"
            " request"
        )
    if not signs(customer_key, signed.digest, signed.signature):
        raise PerUseAuthorizationInvalid(
            "the use authorization's signature does not verify under the customer's key"
        )
    age = now - use.requested_at
    if not -MAX_SKEW_S <= age <= freshness.total_seconds():
        raise PerUseAuthorizationInvalid(
            f"the use authorization was made at {use.requested_at}, {age} s from now; it must be"
            f" at most {freshness.total_seconds():g} s old"
        )
