"""Deploy EvidenceLedger: the one deploy entry point, for brownie and for the service alike.

With brownie (its own environment, see scripts/setup-brownie.sh)::

    .venv-brownie/bin/brownie run scripts/deploy.py --network <network>

deploys with admin = writers[0] = the deploying account: ``LEDGER_CHAIN_PRIVATE_KEY`` if set,
else ``accounts[0]`` of a development network (brownie's own anvil). Brownie keeps the record
(build/deployments/ on live networks).

With the service environment::

    .venv/bin/python scripts/deploy.py [--force]

runs the ledger's own path (``ledger chain deploy``): the chain of ``LEDGER_CHAIN_RPC_URL`` or
the managed dev chain, recorded in ``LEDGER_DATA_DIR/deployments``; deployed once and reused
unless ``--force``. And::

    .venv/bin/python scripts/deploy.py consortium --config consortium.toml [--force]

deploys the Consortium and its KeyRegistry from the founding configuration, exactly as
``ledger consortium init`` does (same chain, same deployments record).

Both print a line ``EvidenceLedger <address> (chain <id>)``. Module level imports only the
standard library: brownie imports this file, and the ``ledger`` package is not in its
environment (nor brownie in the service's).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

CONTRACT_NAME = "EvidenceLedger"


def main() -> Any:
    """Brownie entry point (``brownie run scripts/deploy.py``): a Consortium whose one founding
    member (a broker, every threshold 1) is the deploying account, then an EvidenceLedger that
    asks it before each write. ``LEDGER_MEMBER_KEY_FINGERPRINT`` (hex, the SM3 fingerprint of the
    member's SM2 key: ``ledger sm2 ...``) is required on live networks; a development network
    gets a placeholder. A consortium of several founders comes from ``ledger consortium init``.
    """
    from brownie import Consortium, EvidenceLedger, accounts, chain, web3  # type: ignore[attr-defined]
    from brownie._config import CONFIG

    key = os.environ.get("LEDGER_CHAIN_PRIVATE_KEY")
    if key:
        account = accounts.add(key)
    elif CONFIG.network_type == "development":
        account = accounts[0]
    else:
        raise SystemExit("deploy: set LEDGER_CHAIN_PRIVATE_KEY to deploy to a live network")
    fingerprint = os.environ.get("LEDGER_MEMBER_KEY_FINGERPRINT")
    if not fingerprint:
        if CONFIG.network_type != "development":
            raise SystemExit("deploy: set LEDGER_MEMBER_KEY_FINGERPRINT on a live network")
        fingerprint = web3.keccak(text="dev broker placeholder key").hex()
    founder = (
        account.address,
        "dev broker",
        "http://127.0.0.1:8000",
        fingerprint,
        [web3.keccak(text="broker")],
    )
    week = 7 * 24 * 3600
    consortium = Consortium.deploy([founder], [1] * 5, 0, week, {"from": account})
    print(f"Consortium {consortium.address} (chain {chain.id})")
    contract = EvidenceLedger.deploy(consortium.address, {"from": account})
    print(f"{CONTRACT_NAME} {contract.address} (chain {chain.id})")
    return contract


def _deploy_with_ledger(argv: list[str]) -> None:
    """The service's own path: exactly ``ledger chain deploy [--force]``, or with ``consortium``
    first, ``ledger consortium init --config FILE [--force]``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ledger.cli import cli

    if argv[:1] == ["consortium"]:
        cli(["consortium", "init", *argv[1:]], prog_name="scripts/deploy.py consortium")
    else:
        cli(["chain", "deploy", *argv], prog_name="scripts/deploy.py")


if __name__ == "__main__":
    _deploy_with_ledger(sys.argv[1:])
