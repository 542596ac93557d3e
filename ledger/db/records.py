"""What the database hands out: frozen dataclasses of bytes, ints, strings and aware datetimes.

The agreement's own records (:class:`AgreementVersion`, :class:`SignatureRecord`,
:class:`VersionKind`, :class:`VersionStatus`) belong to the domain, :mod:`ledger.agreement`; the
database reads and writes them. Here: what only persistence knows (new rows, batches, counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from ledger.agreement import VersionKind
from ledger.consent import AccessReceipt


class BatchStatus(StrEnum):
    OPEN = "open"  # leaves claimed; root, then the signed transaction, still to come
    SUBMITTED = "submitted"  # the signed transaction is stored (and maybe sent)
    ANCHORED = "anchored"  # the transaction is in a block; every leaf has its proof


class LatestRow(NamedTuple):
    """The latest stored version of an agreement, as the next-version rule needs it (a
    :class:`~ledger.agreement.LatestVersion`): lighter than a whole :class:`AgreementVersion`."""

    version: int
    kind: str
    status: str
    owner: str | None = None  # the agreement's owner (who created the version)


@dataclass(frozen=True)
class NewSignature:
    """One role's signature of a :class:`NewVersion` (verified by the caller)."""

    role: str
    signed_at: datetime
    public_key: bytes  # uncompressed SM2 point, 65 bytes
    distid: bytes
    signature: bytes  # DER


@dataclass(frozen=True)
class NewVersion:
    """A fully signed version for :meth:`ledger.db.Database.submit_many` (stored accepted).

    ``accepted_at`` is also its creation time and its signatures' recording time;
    ``wrapped_keys`` maps 32-byte SM3 fingerprints of reader SM2 keys to the document key
    encrypted to that reader; ``leaf`` is the 32-byte Merkle leaf hash the batcher anchors.
    """

    agreement_id: str
    version: int
    kind: VersionKind
    document_sm3: bytes
    document_cid: str
    media_type: str
    size: int
    required_roles: tuple[str, ...]
    chain_id: int
    contract: str
    accepted_at: datetime
    signatures: tuple[NewSignature, ...]
    wrapped_keys: Mapping[bytes, bytes]
    leaf: bytes
    owner: str | None = None  # the member whose broker submitted it


@dataclass(frozen=True)
class BatchLeaf:
    """One outbox row in a batch: an agreement version (``agreement_id``, ``version``) or an
    access receipt (``receipt_id``); exactly one of the two is set."""

    leaf_index: int
    seq: int
    agreement_id: str | None
    version: int | None
    leaf: bytes
    receipt_id: str | None = None


@dataclass(frozen=True)
class Batch:
    batch_id: int
    status: BatchStatus
    size: int
    first_seq: int
    last_seq: int
    root: bytes | None
    created_at: datetime
    tx_hash: bytes | None
    raw_tx: bytes | None
    nonce: int | None
    block_number: int | None
    block_hash: bytes | None
    anchored_at: datetime | None
    leaves: tuple[BatchLeaf, ...]


@dataclass(frozen=True)
class BatchAttempt:
    """One signed anchoring transaction of a batch (the first, or a replacement)."""

    batch_id: int
    attempt: int  # 0, 1, ...: the order they were signed in
    tx_hash: bytes
    raw_tx: bytes
    nonce: int
    created_at: datetime


@dataclass(frozen=True)
class Inclusion:
    """Where an anchored version sits: its leaf, Merkle path, root and the anchoring block."""

    agreement_id: str
    version: int
    batch_id: int
    leaf_index: int
    tree_size: int  # leaves in the batch (the Merkle tree's size)
    leaf: bytes
    path: tuple[bytes, ...]  # sibling hashes, leaf level first
    root: bytes
    tx_hash: bytes
    raw_tx: bytes
    block_number: int
    block_hash: bytes
    anchored_at: datetime


@dataclass(frozen=True)
class Counts:
    """For health checks and metrics."""

    drafts: int
    accepted: int  # accepted, not yet anchored
    anchored: int
    unbatched: int  # outbox rows (versions and access receipts) no batch has claimed yet
    open_batches: int
    submitted_batches: int
    anchored_batches: int
    oldest_unanchored_at: datetime | None  # acceptance time of the oldest accepted version


@dataclass(frozen=True)
class AnchoringWindow:
    """What the anchoring loop needs to decide whether a batch is due."""

    unfinished_batches: int  # open or submitted: resume at once
    unbatched: int  # outbox rows (accepted versions, access receipts) no batch has claimed yet
    oldest_unbatched_at: datetime | None  # acceptance (or use) time of the oldest of them


class ReceiptStatus(StrEnum):
    QUEUED = "queued"  # in the outbox, no batch has claimed it yet
    BATCHED = "batched"  # in a batch not anchored yet
    ANCHORED = "anchored"  # its batch is in a block; it has an inclusion proof


@dataclass(frozen=True)
class ReceiptInclusion:
    """Where an anchored access receipt sits (as :class:`Inclusion` for a version)."""

    receipt_id: str
    batch_id: int
    leaf_index: int
    tree_size: int
    leaf: bytes
    path: tuple[bytes, ...]  # sibling hashes, leaf level first
    root: bytes
    tx_hash: bytes
    raw_tx: bytes
    block_number: int
    block_hash: bytes
    anchored_at: datetime


@dataclass(frozen=True)
class StoredReceipt:
    """An access receipt as stored: the receipt, its leaf hash, how far its anchoring got and,
    once anchored, its inclusion proof."""

    receipt: AccessReceipt
    leaf: bytes
    status: ReceiptStatus
    inclusion: ReceiptInclusion | None
