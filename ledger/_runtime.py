"""Wiring from Settings to live parts (chain client, deployments, store, keystore)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from ledger.agreement import SigningDomain
from ledger.chain.client import ChainClient
from ledger.chain.deployments import Deployments, ensure_evidence_ledger
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode
from ledger.chain.evidence import CONTRACT_NAME, EvidenceLedgerContract
from ledger.crypto.keystore import Keystore
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.errors import ConfigurationError
from ledger.settings import Settings
from ledger.store import StoreBackend, open_store

#: The keystore name of the service's own SM2 key: it seals proofs, and on the dev chain it is
#: the dev consortium member's key.
ISSUER_KEY_NAME = "ledger-service"
#: How the keystore names the sealing keys a member adds by rotation (``ledger consortium keys
#: rotate-sealing``): ``proof-sealing-<UTC time>``, in the order they were made.
SEALING_KEY_PREFIX = "proof-sealing-"


def dev_node(settings: Settings) -> DevNode:
    return DevNode(directory=settings.chain_dir, port=settings.dev_chain_port)


@contextmanager
def chain_client(settings: Settings) -> Iterator[ChainClient]:
    """A signing client for the configured chain.

    Without ``LEDGER_CHAIN_RPC_URL`` this is the managed dev chain: started if it is not running,
    and stopped again afterwards if this call started it (its state persists either way).
    """
    key = settings.chain_private_key.get_secret_value() if settings.chain_private_key else None
    if settings.chain_rpc_url:
        if key is None:
            raise ConfigurationError(
                "LEDGER_CHAIN_PRIVATE_KEY is required with LEDGER_CHAIN_RPC_URL"
            )
        yield ChainClient(rpc_url=settings.chain_rpc_url, private_key=key)
        return
    node = dev_node(settings)
    was_running = node.status().running
    url = node.start()
    try:
        yield ChainClient(rpc_url=url, private_key=key or DEV_PRIVATE_KEY)
    finally:
        if not was_running:
            node.stop()


def evidence_ledger(settings: Settings, client: ChainClient) -> EvidenceLedgerContract:
    """The recorded EvidenceLedger, deployed first if there is none (on the dev chain with a
    one-member dev consortium: this service's account and issuer key)."""
    deployment = ensure_evidence_ledger(
        client,
        Deployments(directory=settings.deployments_dir),
        dev_member_key=service_key(settings, ISSUER_KEY_NAME).public_key(),
    )
    return EvidenceLedgerContract(client=client, address=deployment.address)


def recorded_domain(settings: Settings) -> SigningDomain:
    """The signing domain (chain ID, contract) without asking the chain node: the configured
    ``LEDGER_CHAIN_ID`` and ``LEDGER_CONTRACT_ADDRESS``, else the one deployment of the
    contract recorded under the data dir (on ``LEDGER_CHAIN_ID``, if set)."""
    if settings.chain_id is not None and settings.contract_address is not None:
        return SigningDomain(
            chain_id=settings.chain_id, contract=to_checksum_address(settings.contract_address)
        )
    deployments = Deployments(directory=settings.deployments_dir)
    found = [
        (chain_id, deployment)
        for chain_id in deployments.chain_ids()
        if settings.chain_id in (None, chain_id)
        and (deployment := deployments.get(chain_id, CONTRACT_NAME)) is not None
    ]
    if len(found) != 1:
        where = "none" if not found else f"one on each of chains {[c for c, _ in found]}"
        raise ConfigurationError(
            f"the chain node is unreachable and the signing domain is not known: {where} of"
            f" {CONTRACT_NAME} recorded in {settings.deployments_dir}"
            + ("" if settings.chain_id is None else f" for chain {settings.chain_id}")
            + "; set LEDGER_CHAIN_ID and LEDGER_CONTRACT_ADDRESS, or start with the node up"
        )
    chain_id, deployment = found[0]
    return SigningDomain(chain_id=chain_id, contract=to_checksum_address(deployment.address))


def content_store(settings: Settings, *, deferred_sync: bool = False) -> StoreBackend:
    """The configured content store: the embedded blockstore, or an IPFS node (Kubo RPC)."""
    return open_store(
        backend=settings.store_backend,
        root=settings.store_dir,
        api_url=settings.ipfs_api_url,
        deferred_sync=deferred_sync,
    )


def keystore(settings: Settings) -> Keystore:
    return Keystore(directory=settings.keys_dir)


class SealingKeys:
    """The keys the service may seal proofs with: the issuer key and every key named
    ``proof-sealing-*`` in its keystore, newest first. Which one seals is the registry's word
    (:mod:`ledger.service._proof_keys`); a key added to the keystore while the service runs is
    found by :meth:`refresh`. Thread-safe; each key is decrypted once."""

    def __init__(self, settings: Settings) -> None:
        self._store = keystore(settings)
        self._password = settings.keystore_password.get_secret_value().encode("utf-8")
        self._lock = threading.Lock()
        self._loaded: dict[str, SM2PrivateKey] = {}
        self.refresh()

    def candidates(self) -> list[SM2PrivateKey]:
        with self._lock:
            return list(self._loaded.values())

    def refresh(self) -> bool:
        """Load the keystore's sealing keys not loaded yet; whether there were any."""
        with self._lock:
            stored = self._store.names()
            added = sorted((n for n in stored if n.startswith(SEALING_KEY_PREFIX)), reverse=True)
            wanted = [*added, ISSUER_KEY_NAME]
            new = [name for name in wanted if name not in self._loaded]
            for name in new:
                self._loaded[name] = (
                    self._store.load(name, self._password)
                    if name in stored
                    else self._store.create(name, self._password)
                )
            self._loaded = {name: self._loaded[name] for name in wanted}
            return bool(new)


def new_sealing_key(settings: Settings, *, now: datetime) -> tuple[str, SM2PrivateKey]:
    """A fresh sealing key in the service keystore (``proof-sealing-<now>``): its name and key."""
    name = SEALING_KEY_PREFIX + now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    password = settings.keystore_password.get_secret_value().encode("utf-8")
    return name, keystore(settings).create(name, password)


def service_key(settings: Settings, name: str) -> SM2PrivateKey:
    """A named SM2 key from the service keystore, created on first use."""
    store = keystore(settings)
    password = settings.keystore_password.get_secret_value().encode("utf-8")
    if name in store.names():
        return store.load(name, password)
    return store.create(name, password)
