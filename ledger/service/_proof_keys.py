"""The registry entries a ``ledger-proof/2`` carries, as the service reads them when it seals.

The issuer's entry is that of its sealing key for ``proof-sealing``, registered to the chain
account the service anchors with (so it is the member the proof's anchor names). Where that key
is not registered (a deployment without a KeyRegistry, or a member that registered no sealing
key) :meth:`RegistryKeys.for_proof` returns None and the service issues ``ledger-proof/1``, which
claims nothing about its keys (``ledger verify`` says no key check ran); it never writes a
``keys`` part it could not fill from the chain.

The broker's entry is that of the broker signature's key for ``request-signing``, registered to
the version's owner (when the owner is a chain account) or to the service's own member. It is
left out when the registry holds no such key, or when the key's window started after the broker
signed (the registry does not vouch for a signature made before the key was registered); a key
whose window had *ended* when the broker signed (revoked, rotated or expired before) is written
as it is, so the proof is refused by its own checks: the registry rejects that signature.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Protocol

from eth_utils.address import is_address, to_checksum_address

from ledger.agreement import AgreementVersion
from ledger.chain.deployments import Deployments
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.keys import CONTRACT_NAME as KEY_REGISTRY
from ledger.chain.keys import KeyEntry, KeyRegistryContract
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.proof import ProofKeys
from ledger.service.errors import ServiceUnavailable

BROKER = "broker"
PROOF_SEALING = "proof-sealing"
REQUEST_SIGNING = "request-signing"


class SealingKeySet(Protocol):
    """The service's sealing keys, newest first (:class:`ledger._runtime.SealingKeys`)."""

    def candidates(self) -> list[SM2PrivateKey]: ...

    def refresh(self) -> bool:
        """Look for keys added since; whether there were any."""
        ...


class FixedSealingKeys:
    """A :class:`SealingKeySet` of given keys that never grows (tools, tests)."""

    def __init__(self, *keys: SM2PrivateKey) -> None:
        self._keys = list(keys)

    def candidates(self) -> list[SM2PrivateKey]:
        return list(self._keys)

    def refresh(self) -> bool:
        return False


class RegistryKeys:
    """Reads the issuer's and the broker's entries from the KeyRegistry, once per proof (a
    rotation or revocation reaches the next proof). Its consortium must be the one ``ledger``
    asks before each write (checked on first use: proofs naming another registry would fail
    ``ledger verify --rpc``)."""

    def __init__(
        self,
        *,
        registry: KeyRegistryContract,
        ledger: EvidenceLedgerContract,
        member: str,
        sealing: SealingKeySet,
    ) -> None:
        self._registry = registry
        self._ledger = ledger
        self._member = to_checksum_address(member)
        self._sealing = sealing
        self._linked = False

    def for_seal(self, *, sealed_at: datetime) -> tuple[SM2PrivateKey, ProofKeys] | None:
        """The key that seals a proof at ``sealed_at`` and its entry (as ``keys``, with no
        broker); None if none of the service's sealing keys is registered for proof sealing.
        The key is the one whose entry is valid at ``sealed_at`` (after a rotation, the new key,
        looked for in the keystore if it was added while the service ran); if none is, a
        registered one, whose proof is then refused by its own checks.
        :class:`~ledger.chain.errors.NodeError` if the chain cannot be read."""
        self._check_link()
        at = int(sealed_at.timestamp())
        chosen = self._choose(at)
        if (chosen is None or not chosen[1].valid_at(at)) and self._sealing.refresh():
            chosen = self._choose(at)
        if chosen is None:
            return None
        key, seal = chosen
        keys = ProofKeys(
            chain_id=self._registry.client.chain_id,
            registry=self._registry.address,
            sealed_at=sealed_at,
            seal=seal,
        )
        return key, keys

    def for_proof(
        self, record: AgreementVersion, *, sealed_at: datetime
    ) -> tuple[SM2PrivateKey, ProofKeys] | None:
        """:meth:`for_seal`, with the entry of the key the broker signed ``record`` with (the
        proof is ``ledger-proof/1`` where None)."""
        sealing = self.for_seal(sealed_at=sealed_at)
        if sealing is None:
            return None
        key, keys = sealing
        return key, replace(keys, broker=self._broker(record))

    def _choose(self, at: int) -> tuple[SM2PrivateKey, KeyEntry] | None:
        """The first sealing key with an entry valid at ``at``, else the first registered."""
        registered = None
        for key in self._sealing.candidates():
            entry = self._registry.entry_of(
                self._member, PROOF_SEALING, key.public_key().fingerprint()
            )
            if entry is not None and entry.valid_at(at):
                return key, entry
            if entry is not None and registered is None:
                registered = key, entry
        return registered

    def _broker(self, record: AgreementVersion) -> KeyEntry | None:
        public_key = record.signer_key(BROKER)
        signed_at = next((s.signed_at for s in record.signatures if s.role == BROKER), None)
        if public_key is None or signed_at is None:
            return None
        members = [self._member]
        if record.owner is not None and is_address(record.owner):
            members.insert(0, to_checksum_address(record.owner))
        fingerprint = SM2PublicKey.from_raw(public_key).fingerprint()
        for member in dict.fromkeys(members):
            found = self._registry.entry_of(member, REQUEST_SIGNING, fingerprint)
            if found is not None and found.not_before <= signed_at.timestamp():
                return found
        return None

    def _check_link(self) -> None:
        if self._linked:
            return
        if self._registry.consortium() != self._ledger.consortium():
            raise ServiceUnavailable(
                f"the KeyRegistry {self._registry.address} belongs to another consortium than"
                f" the EvidenceLedger {self._ledger.address}: proofs would name the wrong"
                " registry (record the consortium's registry, or deploy the ledger again)"
            )
        self._linked = True


def recorded_registry_keys(
    *,
    deployments: Deployments,
    chain_id: int,
    ledger: EvidenceLedgerContract,
    sealing: SealingKeySet,
) -> RegistryKeys | None:
    """:class:`RegistryKeys` over the KeyRegistry recorded for ``chain_id`` (asks no node), the
    service's member being the account ``ledger`` anchors with; None if no registry is recorded
    (proofs are then ``ledger-proof/1``)."""
    recorded = deployments.get(chain_id, KEY_REGISTRY)
    if recorded is None:
        return None
    return RegistryKeys(
        registry=KeyRegistryContract(client=ledger.client, address=recorded.address),
        ledger=ledger,
        member=ledger.client.address,
        sealing=sealing,
    )
