"""KeyRegistry entries for ``ledger-proof/2`` files made offline: the entries a registry at a
made-up address would hold for the issuer's sealing key and the broker's key (key IDs computed
as the registry computes them), so that offline checks can be tested without a chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from eth_account import Account
from eth_utils.address import to_checksum_address

from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.chain.keys import KeyEntry, key_id_of
from ledger.crypto.sm2 import SM2PublicKey
from ledger.proof import ProofKeys
from tests._fixtures.proofs import OFFLINE_DOMAIN, SIGNED_AT, Parties

#: A made-up KeyRegistry beside OFFLINE_DOMAIN's EvidenceLedger.
OFFLINE_REGISTRY = to_checksum_address("0x" + "4b" * 20)
#: The account the offline anchorer signs with: the member that anchors (and seals).
DEV_ACCOUNT = Account.from_key(DEV_PRIVATE_KEY).address
#: Key windows of the sample entries: registered a day before the sample signatures.
REGISTERED_AT = int(SIGNED_AT.timestamp()) - 86_400
#: When the sample proofs are sealed: an hour after the sample versions were accepted.
SEALED_AT = datetime.fromtimestamp(SIGNED_AT.timestamp() + 3_600, SIGNED_AT.tzinfo)


def entry(
    key: SM2PublicKey,
    *,
    member: str = DEV_ACCOUNT,
    purpose: str = "proof-sealing",
    registry: str = OFFLINE_REGISTRY,
    chain_id: int = OFFLINE_DOMAIN.chain_id,
    not_before: int = REGISTERED_AT,
    not_after: int | None = None,
    revoked_at: int | None = None,
    registered_at: int = REGISTERED_AT,
) -> KeyEntry:
    """The entry the registry at ``registry`` holds for ``member``'s ``key``."""
    fingerprint = key.fingerprint()
    return KeyEntry(
        key_id=key_id_of(
            chain_id=chain_id,
            contract=registry,
            member=member,
            purpose=purpose,
            fingerprint=fingerprint,
        ),
        member=member,
        purpose=purpose,
        fingerprint=fingerprint,
        public_key=key,
        not_before=not_before,
        not_after=not_after,
        revoked_at=revoked_at,
        registered_at=registered_at,
    )


def offline_keys(
    parties: Parties,
    *,
    broker: bool = True,
    sealed_at: datetime = SEALED_AT,
    broker_member: str | None = None,
) -> ProofKeys:
    """Both entries (the broker's only if ``broker``), valid from a day before the signatures,
    open-ended, in :data:`OFFLINE_REGISTRY`."""
    broker_entry = None
    if broker:
        broker_entry = entry(
            parties.keys["broker"].public_key(),
            member=broker_member or to_checksum_address("0x" + "b0" * 20),
            purpose="request-signing",
        )
    return ProofKeys(
        chain_id=OFFLINE_DOMAIN.chain_id,
        registry=OFFLINE_REGISTRY,
        sealed_at=sealed_at,
        seal=entry(parties.issuer.public_key()),
        broker=broker_entry,
    )


def with_seal(keys: ProofKeys, **changes: object) -> ProofKeys:
    """``keys`` with the seal entry rebuilt from ``changes`` (key ID recomputed)."""
    seal = keys.seal
    fields = {
        "member": seal.member,
        "purpose": seal.purpose,
        "not_before": seal.not_before,
        "not_after": seal.not_after,
        "revoked_at": seal.revoked_at,
        "registered_at": seal.registered_at,
        **changes,
    }
    return replace(keys, seal=entry(seal.public_key, **fields))  # type: ignore[arg-type]
