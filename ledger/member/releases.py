"""Releasing a customer's attested fields to a grantee member: what ``POST
/v1/consents/{grant_id}/releases`` runs on the attester's (member A's) service.

Member B asks, signed (RFC 9421), with the JSON body ``{"fields": [...], "purpose": "...",
"use": <the customer's signed use document, or null>}``. :meth:`ReleaseDesk.release`, in order:

1. parses the body (:class:`ReleaseRequestInvalid`, or the use document's
   :class:`~ledger.customer.errors.DocumentError`);
2. reads from the chain, fresh for this request (no cache): the grant as recorded, its
   revocations, the attestation and the latest block's time; and this service's count of uses;
3. decides with :func:`ledger.consent.release.check_release` (each refusal its own
   :class:`~ledger.consent.release.ReleaseRefused`);
4. finds the grantee's KeyRegistry key of purpose ``disclosure-receiving`` valid now
   (:class:`NoDisclosureKey` if none) and decrypts the stored Disclosures (this service's own
   attestation; checked against the attestation's digests). Both before any receipt, so a
   release that cannot be made leaves none;
5. writes the :class:`~ledger.consent.receipt.AccessReceipt` (``request_digest``: SM3 of the body
   exactly as sent) with its outbox row and the grant's use count, atomically
   (:meth:`ledger.db.Database.record_receipt`: the last use is given once across processes; a
   per-use authorization is recorded once: :class:`PerUseAuthorizationReplayed`), and tells the
   anchoring loop, so the receipt goes into the next Merkle batch;
6. only then seals the asked-for Disclosures to the grantee's key (``ledger-release/1``,
   :func:`ledger.consent.envelope.seal_release`).

Anything refused leaves no receipt and releases nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from ledger.attestation.disclosure import FIELD_NAME
from ledger.canonical import whole_seconds
from ledger.chain.consent import Mode
from ledger.chain.keys import KeyEntry, KeyRegistryContract
from ledger.consent.envelope import ReleasedFields, seal_release
from ledger.consent.receipt import MAX_FIELDS, PURPOSE, AccessReceipt, new_receipt_id
from ledger.consent.release import (
    NotGrantee,
    PerUseAuthorizationReplayed,
    ReleaseRequest,
    UsesExhausted,
    check_release,
)
from ledger.crypto.sm3 import sm3
from ledger.customer.documents import SignedUse, parse
from ledger.db import Database
from ledger.db import errors as db_errors
from ledger.db.records import StoredReceipt
from ledger.errors import LedgerError
from ledger.httpsig import Caller
from ledger.member.access import Role
from ledger.member.attestations import AttestationDesk
from ledger.member.consents import ConsentRelay

__all__ = [
    "DISCLOSURE_PURPOSE",
    "MAX_REQUEST_BYTES",
    "NoDisclosureKey",
    "ReleaseDesk",
    "ReleaseDeskError",
    "ReleaseRequestInvalid",
    "Released",
    "parse_release_request",
]

#: The KeyRegistry purpose of the key a member receives released disclosures with.
DISCLOSURE_PURPOSE = "disclosure-receiving"
_BODY_MEMBERS = {"fields", "purpose", "use"}
#: Threads that overlap the chain reads of releases (three at most per release at a time).
READ_THREADS = 16
#: The longest release request read (32 field names and a signed use document fit many times).
MAX_REQUEST_BYTES = 64 * 1024


class ReleaseDeskError(LedgerError):
    """Root of the release desk's own errors (the release rule's refusals are
    :class:`~ledger.consent.release.ReleaseRefused`)."""


class ReleaseRequestInvalid(ReleaseDeskError):
    """The request body is not ``{"fields": [...], "purpose": ..., "use": ...}``."""


class NoDisclosureKey(ReleaseDeskError):
    """The grantee has no KeyRegistry key of purpose ``disclosure-receiving`` valid now:
    nothing can be sealed to it (no receipt was written)."""


@dataclass(frozen=True)
class Released:
    """A release made: its receipt as stored (queued for anchoring) and the sealed envelope."""

    receipt: StoredReceipt
    envelope: dict[str, Any]


def parse_release_request(body: bytes, *, grant_id: bytes, caller: str) -> ReleaseRequest:
    """The request ``body`` states (JSON), for ``caller`` under ``grant_id``."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ReleaseRequestInvalid(f"a release request is at most {MAX_REQUEST_BYTES} bytes")
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReleaseRequestInvalid(f"a release request is a JSON object: {exc}") from None
    if not isinstance(raw, dict) or not {"fields", "purpose"} <= set(raw) <= _BODY_MEMBERS:
        raise ReleaseRequestInvalid(
            'a release request is {"fields": [names], "purpose": name, "use": document or null}'
        )
    fields = raw["fields"]
    if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS:
        raise ReleaseRequestInvalid(f"fields is a list of 1-{MAX_FIELDS} field names")
    for field in fields:
        if not isinstance(field, str) or not FIELD_NAME.fullmatch(field):
            raise ReleaseRequestInvalid(f"not a field name: {field!r}")
    if len(set(fields)) != len(fields):
        raise ReleaseRequestInvalid("a field is asked for twice")
    purpose = raw["purpose"]
    if not isinstance(purpose, str) or not PURPOSE.fullmatch(purpose):
        raise ReleaseRequestInvalid(f"not a purpose name: {purpose!r}")
    use = raw.get("use")
    return ReleaseRequest(
        grant_id=grant_id,
        caller=caller,
        fields=tuple(fields),
        purpose=purpose,
        use=None if use is None else parse(use, SignedUse),
    )


class ReleaseDesk:
    """Releases of this member's attested fields under customers' grants; thread-safe."""

    def __init__(
        self,
        *,
        relay: ConsentRelay,
        attestations: AttestationDesk,
        keys: Callable[[], KeyRegistryContract],
        database: Database,
        on_receipt: Callable[[int], None] = lambda n: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``relay``: the consent contracts (found once) and the chain's time; ``keys``: the
        recorded KeyRegistry; ``on_receipt(n)``: told of receipts written (the anchoring loop's
        ``notify``). A receipt's ``used_at`` is the chain's time the rule judged the release at,
        so whoever judges the receipt again at ``used_at`` (an auditor) reaches the same
        verdict; ``now``: the service's clock, when the receipt is queued for anchoring."""
        self._relay = relay
        self._now = now
        self._attestations = attestations
        self._keys = keys
        self._db = database
        self._on_receipt = on_receipt
        #: The chain reads of one release, overlapped (each waits on the node, not the CPU).
        self._reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="release-read")

    def close(self) -> None:
        """Stop the reader threads (the service calls it when it stops)."""
        self._reads.shutdown(wait=True)

    def release(self, caller: Caller, grant_id: bytes, request: bytes) -> Released:
        """Release the fields the JSON body ``request`` asks for under ``grant_id`` to
        ``caller`` (see the module's docstring)."""
        if Role.CUSTOMER in caller.roles or not is_address(caller.member_id):
            raise NotGrantee(
                f"grant 0x{grant_id.hex()} is released to its grantee member, not to"
                f" {caller.member_id!r}"
            )
        asked = parse_release_request(
            request, grant_id=grant_id, caller=to_checksum_address(caller.member_id)
        )
        attestations, registry = self._relay.contracts()
        # 2. fresh from the chain: the grant, its revocations, the attestation, the time (and
        # the grantee's keys, judged after the rule): independent reads overlap, in two rounds
        read = self._reads.submit
        grant_read = read(ConsentRelay.recorded_grant, registry, grant_id)
        revocations_read = read(registry.revocations_of, grant_id)
        now_read = read(self._relay.chain_time)
        uses = self._db.uses_of(grant_id)
        record = grant_read.result()
        attestation_read = read(attestations.attestation, record.grant.attestation_id)
        now = now_read.result()
        keys_read = read(self._keys().valid_keys_at, asked.caller, DISCLOSURE_PURPOSE, now)
        attestation, revocations = attestation_read.result(), revocations_read.result()
        # 3. the rule
        check_release(
            asked,
            grant=record,
            revocations=revocations,
            attestation=attestation,
            uses=uses,
            now=now,
            chain_id=self._relay.client.chain_id,
            registry=registry.address,
        )
        # 4. where to seal to, and what: before any receipt
        recipient = _recipient(asked.caller, keys_read.result())
        disclosures = self._attestations.disclosures(attestation).select(asked.fields)
        # 5. the receipt, durably, then the anchoring loop is told
        terms = record.grant
        receipt = AccessReceipt(
            receipt_id=new_receipt_id(),
            grant_id=grant_id,
            attestation_id=attestation.attestation_id,
            attester=attestation.attester,
            caller=asked.caller,
            fields=asked.fields,
            purpose=asked.purpose,
            used_at=datetime.fromtimestamp(now, UTC),
            request_sm3=sm3(request),
            mode=terms.mode,
            use_authorization=(
                asked.use.digest if terms.mode is Mode.PER_USE and asked.use is not None else None
            ),
            chain_id=self._relay.client.chain_id,
            consent_registry=registry.address,
        )
        try:
            stored = self._db.record_receipt(
                receipt,
                max_uses=terms.max_uses or None,
                queued_at=whole_seconds(min(self._now(), receipt.used_at)),
            )
        except db_errors.UsesExhausted as exc:
            raise UsesExhausted(str(exc)) from None
        except db_errors.UseAuthorizationReplayed as exc:
            raise PerUseAuthorizationReplayed(str(exc)) from None
        self._on_receipt(1)
        # 6. only now the fields leave, sealed to the grantee's key
        envelope = seal_release(
            ReleasedFields(
                attestation_id=attestation.attestation_id,
                grant_id=grant_id,
                receipt_id=receipt.receipt_id,
                disclosures=disclosures,
            ),
            recipient=recipient.public_key,
        )
        return Released(receipt=stored, envelope=envelope)


def _recipient(grantee: str, valid: list[KeyEntry]) -> KeyEntry:
    """Of the grantee's ``disclosure-receiving`` keys valid now, the latest to start."""
    if not valid:
        raise NoDisclosureKey(
            f"{grantee} has no KeyRegistry key of purpose {DISCLOSURE_PURPOSE!r} valid now:"
            " register one to receive released fields; nothing was released"
        )
    return max(valid, key=lambda entry: (entry.not_before, entry.registered_at))
