"""Three members' services on one chain: a consortium of three founders (two brokers A and B,
the auditor C) on a real anvil, and for each founder its own ``python -m api`` process with its
own chain account, data dir and database, all on the same Consortium, KeyRegistry and
EvidenceLedger.

Each service knows its callers from a members file whose entries name members by their chain
account (``member = "0x..."``, as the on-chain key directory does): the three founders with
their roles and request-signing keys, and one customer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger.chain.consortium import Thresholds
from ledger.client import LedgerClient
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import RegisteredKey, default_keyid
from ledger.member import write_members_file as members_file
from tests._fixtures.anvil import free_port
from tests._fixtures.consortium import ANVIL_KEYS, Deployed, make_consortium
from tests._fixtures.server import ServiceProcess

CUSTOMER_ID = "cust-1"


@dataclass
class MemberServices:
    deployed: Deployed
    services: list[ServiceProcess]  # founder i's service is services[i]
    customer: SM2PrivateKey
    members_file: Path

    def client(self, service: int, key: SM2PrivateKey) -> LedgerClient:
        """A client of founder ``service``'s service signing with ``key``."""
        return LedgerClient(base_url=self.services[service].url, key=key)

    def as_member(self, member: int, *, at: int | None = None) -> LedgerClient:
        """Founder ``member`` calling (by default) its own service."""
        key = self.deployed.members[member].sm2
        return self.client(member if at is None else at, key)


def write_members_file(path: Path, deployed: Deployed, customer: SM2PrivateKey) -> Path:
    entries = [
        (party.address, spec.roles, party.sm2)
        for party, spec in zip(deployed.members, deployed.specs, strict=True)
    ]
    entries.append((CUSTOMER_ID, ("customer",), customer))
    return members_file(
        path,
        [
            RegisteredKey(
                keyid=default_keyid(key.public_key()),
                member_id=member,
                roles=frozenset(roles),
                public_key=key.public_key(),
                valid_from=datetime(1970, 1, 1, tzinfo=UTC),
            )
            for member, roles, key in entries
        ],
    )


@contextmanager
def member_services(rpc_url: str, directory: Path, *, count: int = 3) -> Iterator[MemberServices]:
    """Deploy the consortium (every threshold 2, voting period an hour) and start the first
    ``count`` founders' services; stopped on exit."""
    deployed = make_consortium(
        rpc_url,
        directory / "member0" / "deployments",
        thresholds=Thresholds(2, 2, 2, 2, 2),
        voting_period_s=3600,
    )
    customer = SM2PrivateKey.generate()
    members = write_members_file(directory / "members.toml", deployed, customer)
    services = [
        ServiceProcess(
            data_dir=directory / f"member{i}",
            port=free_port(),
            env={
                "LEDGER_CHAIN_RPC_URL": rpc_url,
                "LEDGER_CHAIN_PRIVATE_KEY": ANVIL_KEYS[i],
                "LEDGER_MEMBERS_FILE": str(members),
            },
        )
        for i in range(count)
    ]
    with ExitStack() as stack:
        for i, service in enumerate(services):
            if i > 0:  # the same contracts: the first service deployed the EvidenceLedger
                recorded = directory / "member0" / "deployments"
                shutil.copytree(recorded, service.data_dir / "deployments")
            stack.callback(service.close)
            service.start()
        yield MemberServices(
            deployed=deployed, services=services, customer=customer, members_file=members
        )
