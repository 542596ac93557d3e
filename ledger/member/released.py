"""Open what another member released under a grant, and check it: the pure half of member B's
reuse of member A's KYC (:mod:`ledger.member.reuse` asks over HTTP, reads the chain and opens
the account).

:func:`check_released` takes the attester's reply to a release request (``{"receipt": ...,
"envelope": ...}``) and what the chain and the lifecycle feed say now, and either returns the
checked release (the receipt, the attestation, the grant and the fields' values) or raises:

1. the receipt is an ``ledger/access-receipt`` v1 naming this grant, this member as caller, the
   fields and purpose asked, the grant's chain and registry, the attestation the grant covers
   and its attester, the grant's mode (else :class:`ReleaseMismatch`);
2. the envelope opens with this member's ``disclosure-receiving`` key
   (:func:`~ledger.consent.envelope.open_release`, else
   :class:`~ledger.consent.envelope.EnvelopeError`) and is of the same grant, attestation and
   receipt, disclosing exactly the receipt's fields (else :class:`ReleaseMismatch`);
3. each Disclosure is the one the attestation on chain commits to
   (:func:`~ledger.attestation.kyc.check_disclosures`, else
   :class:`~ledger.attestation.DisclosureMismatch`);
4. nothing it relies on ended by this member's lifecycle feed, and the attestation and grant
   are valid now by the chain (:func:`~ledger.consent.release.check_release`, the rule the
   attester applied, asked again from B's side); else :class:`RelianceRefused`, whose message
   starts with the kebab-case reason (``attestation-not-valid``, ``grant-revoked``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from eth_utils.address import to_checksum_address

from ledger import canonical
from ledger.attestation.kyc import check_disclosures
from ledger.chain.attestations import Attestation
from ledger.chain.consent import GrantRecord, RevocationRecord
from ledger.consent import AccessReceipt, ReceiptError
from ledger.consent.envelope import open_release
from ledger.consent.release import ReleaseRefused, ReleaseRequest, check_release
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer.documents import SignedUse, to_bytes
from ledger.db import LifecycleEnd
from ledger.errors import LedgerError

__all__ = [
    "AttesterRefused",
    "AttesterUnreachable",
    "CheckedRelease",
    "ReleaseAsked",
    "ReleaseMismatch",
    "RelianceRefused",
    "ReuseError",
    "check_released",
    "releases_path",
]


class ReuseError(LedgerError):
    """Root of the errors of reusing another member's KYC."""


class ReleaseMismatch(ReuseError):
    """What the attester released is not what was asked (another grant, member, fields,
    purpose, chain, receipt), or its reply is malformed."""


class RelianceRefused(ReuseError):
    """The attestation or grant is not valid now (by the chain or the lifecycle feed): no
    account is opened on it. The message starts with the reason (``attestation-not-valid``,
    ``grant-revoked``, ...)."""


class AttesterRefused(ReuseError):
    """The attester's service refused the release (its status and problem type kept)."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(f"the attester refused the release ({status} {kind}): {detail}")
        self.status = status
        self.kind = kind


class AttesterUnreachable(ReuseError):
    """The attester's service did not answer."""


def releases_path(grant_id: bytes) -> str:
    return f"/v1/consents/{canonical.hex0x(grant_id)}/releases"


@dataclass(frozen=True)
class ReleaseAsked:
    """What member B asks for: fields of a grant's attestation, for a purpose, with the
    customer's signed authorization of this use in ``per-use`` mode."""

    grant_id: bytes
    fields: tuple[str, ...]
    purpose: str
    use: SignedUse | None = None

    def body(self) -> dict[str, object]:
        """The release request's JSON body."""
        use = None if self.use is None else json.loads(to_bytes(self.use))
        return {"fields": list(self.fields), "purpose": self.purpose, "use": use}


@dataclass(frozen=True)
class CheckedRelease:
    """A release opened and checked: the receipt, the attestation and grant as the chain holds
    them, the fields' values, and when (the chain's time, UNIX seconds)."""

    receipt: AccessReceipt
    attestation: Attestation
    grant: GrantRecord
    values: dict[str, object] = field(repr=False)
    checked_at: int


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def check_released(
    reply: Mapping[str, object],
    *,
    asked: ReleaseAsked,
    member: str,
    key: SM2PrivateKey,
    attestation: Attestation,
    grant: GrantRecord,
    revocations: Sequence[RevocationRecord],
    now: int,
    chain_id: int,
    registry: str,
    ended: Sequence[LifecycleEnd] = (),
) -> CheckedRelease:
    """Open and check the attester's reply ``{"receipt": ..., "envelope": ...}`` to ``asked``
    (see the module's docstring), against the attestation, grant and revocations read from the
    chain at ``now`` and the ends the lifecycle feed recorded; the checked release, else
    :class:`ReleaseMismatch`, :class:`RelianceRefused`,
    :class:`~ledger.consent.envelope.EnvelopeError` or
    :class:`~ledger.attestation.DisclosureError`."""
    receipt_json, envelope = reply.get("receipt"), reply.get("envelope")
    if not isinstance(receipt_json, Mapping) or not isinstance(envelope, Mapping):
        raise ReleaseMismatch("a release reply is {receipt, envelope}, two objects")
    try:
        receipt = AccessReceipt.from_bytes(canonical.dumps(receipt_json))
    except (ReceiptError, canonical.EncodingError) as exc:
        raise ReleaseMismatch(f"the release's receipt is malformed: {exc}") from None
    _check_receipt(receipt, asked, member, attestation, grant, chain_id, registry)
    released = open_release(envelope, key=key)
    if (released.grant_id, released.attestation_id, released.receipt_id) != (
        receipt.grant_id,
        receipt.attestation_id,
        receipt.receipt_id,
    ):
        raise ReleaseMismatch("the envelope is of another grant, attestation or receipt")
    names = sorted(d.name for d in released.disclosures)
    if names != list(receipt.fields):
        raise ReleaseMismatch(f"the envelope discloses {names}, the receipt {list(receipt.fields)}")
    values = check_disclosures(attestation, [d.encoded for d in released.disclosures])
    if ended:
        end = ended[0]
        raise RelianceRefused(
            f"{end.reason.value}: this member's lifecycle feed saw the {end.kind} end at"
            f" {canonical.timestamp(end.ended_at)} (block {end.block})"
        )
    request = ReleaseRequest(
        grant_id=asked.grant_id,
        caller=member,
        fields=asked.fields,
        purpose=asked.purpose,
        use=asked.use,
    )
    try:
        check_release(
            request,
            grant=grant,
            revocations=revocations,
            attestation=attestation,
            uses=0,  # the attester counted the uses when it wrote the receipt
            now=now,
            chain_id=chain_id,
            registry=registry,
        )
    except ReleaseRefused as exc:
        raise RelianceRefused(f"{_kebab(type(exc).__name__)}: {exc}") from exc
    return CheckedRelease(
        receipt=receipt, attestation=attestation, grant=grant, values=values, checked_at=now
    )


def _check_receipt(
    receipt: AccessReceipt,
    asked: ReleaseAsked,
    member: str,
    attestation: Attestation,
    grant: GrantRecord,
    chain_id: int,
    registry: str,
) -> None:
    wrong = [
        what
        for what, ok in (
            ("grant", receipt.grant_id == asked.grant_id == grant.grant_id),
            ("caller", receipt.caller == to_checksum_address(member)),
            ("fields", receipt.fields == tuple(sorted(set(asked.fields)))),
            ("purpose", receipt.purpose == asked.purpose),
            ("chain", receipt.chain_id == chain_id),
            ("registry", receipt.consent_registry == to_checksum_address(registry)),
            ("attestation", receipt.attestation_id == grant.grant.attestation_id),
            ("attestation", receipt.attestation_id == attestation.attestation_id),
            ("attester", receipt.attester == attestation.attester),
            ("mode", receipt.mode is grant.grant.mode),
        )
        if not ok
    ]
    if wrong:
        raise ReleaseMismatch(
            f"the receipt {receipt.receipt_id} does not match the request: its {wrong[0]} differs"
        )
