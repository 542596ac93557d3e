"""The reconciliation's records: what goes in (receipts as seen at a service, reliances, the
chain's view of grants) and what comes out (a row per receipt, a row per reliance, typed
anomalies, the report). The logic is :mod:`ledger.audit.reconcile`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from eth_utils.address import to_checksum_address

from ledger import merkle
from ledger.audit.period import Period
from ledger.chain.attestations import Attestation
from ledger.chain.consent import GrantRecord, RevocationRecord
from ledger.consent import AccessReceipt
from ledger.db.records import ReceiptStatus, StoredReceipt

__all__ = [
    "UNKNOWN",
    "Anomaly",
    "AnomalyKind",
    "ChainGrant",
    "ChainView",
    "ReceiptRow",
    "Reliance",
    "RelianceCheck",
    "RelianceRecord",
    "RelianceRow",
    "Report",
    "SeenReceipt",
    "includes",
]

#: The state of a receipt's grant when the chain has no usable record of it.
UNKNOWN = "unknown"


class AnomalyKind(StrEnum):
    NO_COVERING_GRANT = "no-covering-grant"
    AFTER_REVOCATION = "after-revocation"
    OUTSIDE_WINDOW = "outside-window"
    BEYOND_MAX_USES = "beyond-max-uses"
    OUT_OF_SCOPE = "out-of-scope"
    NOT_ANCHORED = "not-anchored"
    RELEASE_WITHOUT_RECEIPT = "release-without-receipt"


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    detail: str
    receipt_id: str | None
    grant_id: bytes | None
    agreement_id: str | None = None  # a reliance's


@dataclass(frozen=True)
class SeenReceipt:
    """A receipt as a service recorded it, with how far its anchoring got and, once anchored,
    the anchoring transaction and whether the inclusion proof shown leads from the receipt's
    leaf to its batch's root (None: no proof shown)."""

    receipt: AccessReceipt
    anchoring: ReceiptStatus
    transaction: bytes | None = None
    proven: bool | None = None

    @classmethod
    def of(cls, stored: StoredReceipt) -> SeenReceipt:
        inclusion = stored.inclusion
        if inclusion is None:
            return cls(stored.receipt, stored.status)
        proven = includes(
            stored.receipt,
            index=inclusion.leaf_index,
            tree_size=inclusion.tree_size,
            path=inclusion.path,
            root=inclusion.root,
        )
        return cls(stored.receipt, stored.status, inclusion.tx_hash, proven)


def includes(
    receipt: AccessReceipt, *, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether the inclusion proof leads from ``receipt``'s leaf to ``root``."""
    try:
        merkle.verify_inclusion(
            leaf_hash_value=receipt.leaf_hash,
            index=index,
            tree_size=tree_size,
            path=path,
            root=root,
        )
    except merkle.InclusionProofInvalid:
        return False
    return True


class RelianceRecord(Protocol):
    """A reliance as its source keeps it (e.g. a database row's record): these attributes."""

    @property
    def agreement_id(self) -> str: ...
    @property
    def attestation_id(self) -> bytes: ...
    @property
    def grant_id(self) -> bytes: ...
    @property
    def receipt_id(self) -> str: ...
    @property
    def attester(self) -> str: ...
    @property
    def member(self) -> str: ...
    @property
    def fields(self) -> Sequence[str]: ...
    @property
    def relied_at(self) -> datetime: ...


@dataclass(frozen=True)
class Reliance:
    """A member's record that it opened an account (``agreement_id``) on fields released to it
    under a grant, with the receipt the attester's service gave."""

    agreement_id: str
    attestation_id: bytes
    grant_id: bytes
    receipt_id: str
    attester: str
    member: str
    fields: tuple[str, ...]
    relied_at: datetime

    @classmethod
    def of(cls, record: RelianceRecord) -> Reliance:
        """The reliance ``record`` names (accounts checksummed, fields sorted)."""
        return cls(
            agreement_id=record.agreement_id,
            attestation_id=record.attestation_id,
            grant_id=record.grant_id,
            receipt_id=record.receipt_id,
            attester=to_checksum_address(record.attester),
            member=to_checksum_address(record.member),
            fields=tuple(sorted(record.fields)),
            relied_at=record.relied_at,
        )


@dataclass(frozen=True)
class ChainGrant:
    """The chain's view of one grant: as recorded, its revocations and its attestation."""

    record: GrantRecord
    revocations: tuple[RevocationRecord, ...]
    attestation: Attestation


@dataclass(frozen=True)
class ChainView:
    """What the chain holds of a set of grants, in the ConsentRegistry ``registry`` of chain
    ``chain_id``; ``unknown``: grants it has no usable record of, and why."""

    chain_id: int
    registry: str
    grants: Mapping[bytes, ChainGrant]
    unknown: Mapping[bytes, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceiptRow:
    seen: SeenReceipt
    use: int  # the n-th use of its grant (1-based)
    max_uses: int | None  # the grant's (0: unlimited); None if the chain has no record of it
    state: str  # a GrantState value at used_at, or UNKNOWN
    covered: bool  # a grant in force at used_at for this grantee, attestation and attester
    reason: str | None  # why not covered
    anomalies: tuple[Anomaly, ...]
    relied_by: tuple[str, ...] = ()  # agreements whose reliance names this receipt

    @property
    def receipt(self) -> AccessReceipt:
        return self.seen.receipt


class RelianceCheck(StrEnum):
    MATCHED = "matched"  # the attester's receipt covers it
    UNMATCHED = "unmatched"  # no receipt, or one for something else: an anomaly
    NOT_CHECKED = "not-checked"  # the attester's receipts are not in this reconciliation


@dataclass(frozen=True)
class RelianceRow:
    reliance: Reliance
    check: RelianceCheck
    anomaly: Anomaly | None


@dataclass(frozen=True)
class Report:
    period: Period
    chain_id: int
    registry: str
    generated_at: datetime
    rows: tuple[ReceiptRow, ...]
    reliances: tuple[RelianceRow, ...]

    @property
    def anomalies(self) -> list[Anomaly]:
        found = [a for row in self.rows for a in row.anomalies]
        return found + [r.anomaly for r in self.reliances if r.anomaly is not None]
