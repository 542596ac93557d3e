"""The EvidenceLedger contract from Python: anchor agreements and batches, read them back.

Who may write is the Consortium's to say (members with the broker role); see
:mod:`ledger.chain.consortium`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.chain.artifact import load_artifact
from ledger.chain.client import ChainClient, SentTransaction, SignedCall
from ledger.chain.errors import ChainError

CONTRACT_NAME = "EvidenceLedger"


def anchor_id_of(
    *,
    chain_id: int,
    contract: str,
    document_digest: bytes,
    cid: str,
    signer_fingerprints: Sequence[bytes],
    signature_set_digest: bytes,
) -> bytes:
    """The contract's anchor ID, computed offline (same as ``anchorIdOf`` on chain)."""
    return keccak(
        abi_encode(
            ["uint256", "address", "bytes32", "string", "bytes32[]", "bytes32"],
            [
                chain_id,
                to_checksum_address(contract),
                document_digest,
                cid,
                list(signer_fingerprints),
                signature_set_digest,
            ],
        )
    )


_ANCHOR_TYPES = ["bytes32", "string", "bytes32[]", "bytes32"]
ANCHOR_SELECTOR = keccak(text=f"anchorAgreement({','.join(_ANCHOR_TYPES)})")[:4]


def anchor_calldata(
    *,
    document_digest: bytes,
    cid: str,
    signer_fingerprints: Sequence[bytes],
    signature_set_digest: bytes,
) -> bytes:
    """The exact call data of ``anchorAgreement`` with these arguments (for offline checks)."""
    return ANCHOR_SELECTOR + abi_encode(
        _ANCHOR_TYPES, [document_digest, cid, list(signer_fingerprints), signature_set_digest]
    )


def batch_id_of(*, chain_id: int, contract: str, root: bytes, size: int) -> bytes:
    """The contract's batch ID, computed offline (same as ``batchIdOf`` on chain)."""
    return keccak(
        abi_encode(
            ["uint256", "address", "bytes32", "uint32"],
            [chain_id, to_checksum_address(contract), root, size],
        )
    )


BATCH_SELECTOR = keccak(text="anchorBatch(bytes32,uint32)")[:4]


def batch_calldata(*, root: bytes, size: int) -> bytes:
    """The exact call data of ``anchorBatch(root, size)`` (for offline checks)."""
    return BATCH_SELECTOR + abi_encode(["bytes32", "uint32"], [root, size])


@dataclass(frozen=True)
class BatchRecord:
    """A batch as stored on chain."""

    batch_id: bytes
    root: bytes
    size: int
    writer: str
    anchored_at: int
    block_number: int


@dataclass(frozen=True)
class AnchorRecord:
    """An anchor as stored on chain."""

    anchor_id: bytes
    document_digest: bytes
    signature_set_digest: bytes
    signer_fingerprints: tuple[bytes, ...]
    cid: str
    writer: str
    anchored_at: int
    block_number: int


@dataclass(frozen=True)
class AnchorReceipt:
    """What anchoring returned: where the anchor landed."""

    anchor_id: bytes
    tx_hash: bytes
    raw_transaction: bytes
    block_number: int
    block_hash: bytes
    writer: str


class EvidenceLedgerContract:
    def __init__(self, *, client: ChainClient, address: str) -> None:
        self.client = client
        self.address = to_checksum_address(address)
        self.artifact = load_artifact(CONTRACT_NAME)
        self._contract = client.contract(self.artifact, self.address)

    def anchor_agreement(
        self,
        *,
        document_digest: bytes,
        cid: str,
        signer_fingerprints: Sequence[bytes],
        signature_set_digest: bytes,
    ) -> AnchorReceipt:
        call = self._contract.functions.anchorAgreement(
            document_digest, cid, list(signer_fingerprints), signature_set_digest
        )
        sent = self.client.transact(call, self.artifact)
        events = self._contract.events.AgreementAnchored().process_receipt(sent.receipt)
        if len(events) != 1:
            raise ChainError(f"expected one AgreementAnchored event, got {len(events)}")
        return AnchorReceipt(
            anchor_id=bytes(events[0]["args"]["anchorId"]),
            tx_hash=sent.tx_hash,
            raw_transaction=sent.raw_transaction,
            block_number=sent.block_number,
            block_hash=sent.block_hash,
            writer=self.client.address,
        )

    def sign_anchor_batch(
        self, *, root: bytes, size: int, nonce: int | None = None, replaces: bytes | None = None
    ) -> SignedCall:
        """The signed ``anchorBatch`` transaction, not yet sent: persist it, then send it.

        Simulated first (the gas estimate), so a batch that is already anchored raises
        ``TransactionFailed(error="EvidenceLedger__BatchAlreadyAnchored")`` here. The call data
        is encoded here and the transaction prepared over plain JSON-RPC in one round trip
        (:meth:`ChainClient.sign_data`): this runs once per batch in the anchoring loop.
        ``replaces``: the signed bytes of a stuck ``anchorBatch`` to replace (same nonce, higher
        fees).
        """
        if len(root) != 32:
            raise ValueError("a batch root is 32 bytes")
        return self.client.sign_data(
            to=self.address,
            data=batch_calldata(root=root, size=size),
            artifact=self.artifact,
            nonce=nonce,
            replaces=replaces,
        )

    def anchor_batch(self, *, root: bytes, size: int) -> SentTransaction:
        return self.client.submit(self.sign_anchor_batch(root=root, size=size))

    def check_deployed(self, *, chain_id: int) -> None:
        """Raise :class:`ChainError` unless the node serves chain ``chain_id`` and this build's
        contract is at :attr:`address` (for a domain taken from a record, not from the node)."""
        served = self.client.chain_id
        if served != chain_id:
            raise ChainError(f"the chain node serves chain {served}, not chain {chain_id}")
        if keccak(self.client.code_at(self.address)) != self.artifact.deployed_code_hash:
            raise ChainError(
                f"{CONTRACT_NAME} at {self.address} on chain {chain_id} does not hold the code"
                " of this build"
            )

    def get_batch(self, batch_id: bytes) -> BatchRecord:
        stored = self.client.call(self._contract.functions.getBatch(batch_id), self.artifact)
        return BatchRecord(
            batch_id=batch_id,
            root=bytes(stored[0]),
            size=int(stored[1]),
            writer=to_checksum_address(stored[2]),
            anchored_at=int(stored[3]),
            block_number=int(stored[4]),
        )

    def batch_count(self) -> int:
        return int(self.client.call(self._contract.functions.batchCount(), self.artifact))

    def get_anchor(self, anchor_id: bytes) -> AnchorRecord:
        stored = self.client.call(self._contract.functions.getAnchor(anchor_id), self.artifact)
        return AnchorRecord(
            anchor_id=anchor_id,
            document_digest=bytes(stored[0]),
            signature_set_digest=bytes(stored[1]),
            signer_fingerprints=tuple(bytes(f) for f in stored[2]),
            cid=stored[3],
            writer=to_checksum_address(stored[4]),
            anchored_at=int(stored[5]),
            block_number=int(stored[6]),
        )

    def is_anchored(self, anchor_id: bytes) -> bool:
        return bool(self.client.call(self._contract.functions.isAnchored(anchor_id), self.artifact))

    def anchor_count(self) -> int:
        return int(self.client.call(self._contract.functions.anchorCount(), self.artifact))

    def consortium(self) -> str:
        """The Consortium this ledger asks before each write."""
        return to_checksum_address(
            self.client.call(self._contract.functions.consortium(), self.artifact)
        )
