"""The consortium's network on Hyperledger Besu with QBFT: genesis, node configs, allowlists.

Everything here follows Besu's documentation (private networks: "Configure QBFT consensus",
"Use local permissioning", "Configure free gas networks", the genesis file items and the CLI
options), since Besu itself cannot run in this project's tests:

- ``genesis.json``: ``config`` with ``chainId``, ``berlinBlock`` and ``londonBlock`` 0 (EIP-1559
  transactions, which our client sends when a block has a base fee), ``zeroBaseFee`` (a free gas
  network: Besu requires it from London on), ``contractSizeLimit`` and ``qbft``
  (``blockperiodseconds``, ``epochlength``, ``requesttimeoutseconds``); ``difficulty`` 0x1 and the
  QBFT ``mixHash``; ``extraData`` = RLP([32 zero bytes, validators ascending, no vote, round 0,
  no seals]) exactly as Besu's ``QbftExtraDataCodec`` writes it (the round as an RLP integer:
  0 is ``0x80``). No ``shanghaiTime``/``cancunTime``: our contracts target ``paris`` (no PUSH0),
  and Besu's QBFT has had bugs with time-based forks (besu#5446, #6507, #9681).
- ``node-<n>/config.toml`` per node, Besu option names without the leading ``--``; paths in it
  are relative: start each node from its own directory (``besu --config-file=config.toml``).
- ``permissions_config.toml``: ``accounts-allowlist`` (the members' accounts, lowercase
  ``0x`` hex as Besu stores them) and ``nodes-allowlist`` (enode URLs); one copy per node too,
  since Besu rewrites a node's file on every ``perm_*`` change.

Validators are addresses; a QBFT validator's address is its node key's (keccak256 of the
64-byte public key, last 20 bytes), so a nodes file of enode URLs gives both the allowlist and
the validators (:func:`load_nodes`).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import coincurve
import rlp
import tomli_w
from eth_utils.address import is_address, is_checksum_address, to_checksum_address
from eth_utils.crypto import keccak

from ledger.errors import ConfigurationError

#: ``mixHash`` of every QBFT (and IBFT 2.0) genesis: "Istanbul block identification".
QBFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
VANITY = bytes(32)
#: The JSON-RPC API groups each node serves: QBFT (validator votes), PERM (allowlists).
RPC_HTTP_API = ("ETH", "NET", "WEB3", "QBFT", "PERM")
PERMISSIONS_FILE = "permissions_config.toml"
GENESIS_FILE = "genesis.json"
NODE_CONFIG_FILE = "config.toml"
#: Default ports of node ``n`` (1-based) when no enode says otherwise: n-1 above Besu's own.
P2P_PORT = 30303
RPC_HTTP_PORT = 8545
#: Free gas (min-gas-price 0, zeroBaseFee): the balance only keeps tools that check it content.
MEMBER_BALANCE_WEI = 10**24


class BesuConfigError(ConfigurationError):
    """A nodes file or validator list that does not make a network, or an output directory that
    is not empty (without ``force``)."""


@dataclass(frozen=True)
class QbftOptions:
    chain_id: int = 1337
    block_period_s: int = 2
    epoch_length: int = 30000
    request_timeout_s: int = 4
    gas_limit: int = 0x29B92700  # Besu's QBFT example: 700 M gas a block

    def __post_init__(self) -> None:
        for name in ("chain_id", "block_period_s", "epoch_length", "request_timeout_s"):
            if int(getattr(self, name)) < 1:
                raise BesuConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.request_timeout_s <= self.block_period_s:
            raise BesuConfigError(
                f"request timeout ({self.request_timeout_s} s) must exceed the block period"
                f" ({self.block_period_s} s); Besu's guide starts at twice the block period"
            )


@dataclass(frozen=True)
class Enode:
    """An enode URL: the node's secp256k1 public key (64 bytes, x||y), host, P2P port and, if
    it differs, the discovery port (``?discport=``)."""

    public_key: bytes
    host: str
    port: int
    discport: int | None = None

    @classmethod
    def parse(cls, text: str) -> Enode:
        parts = urlsplit(text.strip())
        query = parse_qs(parts.query, strict_parsing=False)
        try:
            host, port = parts.hostname, parts.port
            public_key = bytes.fromhex(parts.username or "")
            discport = int(query.pop("discport")[0]) if "discport" in query else None
        except ValueError:
            host, port, public_key, discport = None, None, b"", None
        if parts.scheme != "enode" or len(public_key) != 64 or not host or port is None or query:
            raise BesuConfigError(
                f"{text!r} is not an enode URL (enode://<128 hex digits of the node's public"
                " key>@<host>:<port>[?discport=<port>])"
            )
        try:
            coincurve.PublicKey(b"\x04" + public_key)
        except ValueError as exc:
            raise BesuConfigError(f"{text!r}: the node ID is not a secp256k1 point") from exc
        return cls(public_key=public_key, host=host, port=port, discport=discport)

    @property
    def address(self) -> str:
        """The node's address: what QBFT lists as a validator."""
        return str(to_checksum_address(keccak(self.public_key)[-20:]))

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        extra = f"?discport={self.discport}" if self.discport not in (None, self.port) else ""
        return f"enode://{self.public_key.hex()}@{host}:{self.port}{extra}"


@dataclass(frozen=True)
class BesuNode:
    """One node of the network: its enode (unknown when only validator addresses are given),
    whether it validates, and its JSON-RPC port."""

    enode: Enode | None
    validator_address: str | None
    rpc_http_port: int


def checked_account(text: str, what: str = "validator") -> str:
    """``text`` as a checksummed address; :class:`BesuConfigError` for anything else."""
    if not is_address(text) or (text != text.lower() and not is_checksum_address(text)):
        raise BesuConfigError(f"{what} {text!r} is not a (checksummed) account address")
    return str(to_checksum_address(text))


def load_nodes(path: Path) -> list[BesuNode]:
    """The nodes file (TOML)::

        [[nodes]]
        enode = "enode://<public key hex>@10.0.0.1:30303"   # the node key, host, P2P port
        validator = true                                    # default true
        rpc_http_port = 8545                                # default 8545

    Validators are the nodes with ``validator = true``, by the address of their key.
    """
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BesuConfigError(f"{path}: cannot read the nodes file: {exc}") from exc
    entries = data.get("nodes")
    if set(data) != {"nodes"} or not isinstance(entries, list) or not entries:
        raise BesuConfigError(f"{path}: expected one or more [[nodes]] tables and nothing else")
    nodes = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: nodes #{number}"
        unknown = set(entry) - {"enode", "validator", "rpc_http_port"}
        if unknown:
            raise BesuConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        if not isinstance(entry.get("enode"), str):
            raise BesuConfigError(f"{where}: enode (a string) is required")
        validator = entry.get("validator", True)
        port = entry.get("rpc_http_port", RPC_HTTP_PORT)
        if not isinstance(validator, bool):
            raise BesuConfigError(f"{where}: validator must be true or false")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise BesuConfigError(f"{where}: rpc_http_port must be a port number")
        try:
            enode = Enode.parse(entry["enode"])
        except BesuConfigError as exc:
            raise BesuConfigError(f"{where}: {exc}") from exc
        nodes.append(
            BesuNode(
                enode=enode,
                validator_address=enode.address if validator else None,
                rpc_http_port=port,
            )
        )
    keys = [node.enode.public_key for node in nodes if node.enode]
    if len(set(keys)) != len(keys):
        raise BesuConfigError(f"{path}: the same node key is listed twice")
    return nodes


def nodes_for_validators(validators: Sequence[str]) -> list[BesuNode]:
    """One node per validator address, enodes unknown, ports counted up from Besu's defaults
    (so that a trial network runs on one host)."""
    return [
        BesuNode(enode=None, validator_address=address, rpc_http_port=RPC_HTTP_PORT + i)
        for i, address in enumerate(validators)
    ]


def qbft_extra_data(validators: Sequence[str]) -> bytes:
    """The genesis ``extraData`` of a QBFT network with these validators (block header
    validator selection): RLP([vanity, validators ascending, no vote, round 0, no seals])."""
    if not validators:
        raise BesuConfigError("a QBFT network needs at least one validator")
    raw = sorted(bytes.fromhex(checked_account(v)[2:]) for v in validators)
    if len(set(raw)) != len(raw):
        raise BesuConfigError("a validator is listed twice")
    return bytes(rlp.encode([VANITY, raw, [], 0, []]))


def genesis(
    *, validators: Sequence[str], accounts: Sequence[str], options: QbftOptions
) -> dict[str, Any]:
    """The QBFT genesis file's content; ``accounts`` are funded."""
    return {
        "config": {
            "chainId": options.chain_id,
            "berlinBlock": 0,
            "londonBlock": 0,
            "zeroBaseFee": True,
            "contractSizeLimit": 2147483647,
            "qbft": {
                "blockperiodseconds": options.block_period_s,
                "epochlength": options.epoch_length,
                "requesttimeoutseconds": options.request_timeout_s,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "extraData": "0x" + qbft_extra_data(validators).hex(),
        "gasLimit": hex(options.gas_limit),
        "difficulty": "0x1",
        "mixHash": QBFT_MIX_HASH,
        "coinbase": "0x" + "00" * 20,
        "alloc": {
            checked_account(a, "account")[2:].lower(): {"balance": hex(MEMBER_BALANCE_WEI)}
            for a in accounts
        },
        "number": "0x0",
        "gasUsed": "0x0",
        "parentHash": "0x" + "00" * 32,
    }


def allowlisted_account(account: str) -> str:
    """An account as Besu keeps it in its allowlist (it lowercases what it is given)."""
    return checked_account(account, "account").lower()


def permissions_config(*, accounts: Sequence[str], enodes: Sequence[Enode]) -> dict[str, list[str]]:
    return {
        "accounts-allowlist": sorted({allowlisted_account(a) for a in accounts}),
        "nodes-allowlist": [enode.url() for enode in enodes],
    }


def node_config(node: BesuNode, *, index: int, bootnodes: Sequence[Enode]) -> dict[str, Any]:
    """``node-<index>/config.toml``: paths relative to the node's directory."""
    config: dict[str, Any] = {
        "genesis-file": f"../{GENESIS_FILE}",
        "data-path": "data",
        "min-gas-price": 0,
        "p2p-port": node.enode.port if node.enode else P2P_PORT + index - 1,
        "rpc-http-enabled": True,
        "rpc-http-port": node.rpc_http_port,
        "rpc-http-api": list(RPC_HTTP_API),
        "permissions-accounts-config-file-enabled": True,
        "permissions-accounts-config-file": PERMISSIONS_FILE,
        # Without enode URLs an allowlist would shut every peer out: off until they are given
        # (and the file option left out, which Besu would ignore with a warning).
        "permissions-nodes-config-file-enabled": node.enode is not None,
    }
    if node.enode is not None:
        config["permissions-nodes-config-file"] = PERMISSIONS_FILE
        config["p2p-host"] = node.enode.host
    others = [b.url() for b in bootnodes if node.enode is None or b != node.enode]
    if others:
        config["bootnodes"] = others
    return config


@dataclass(frozen=True)
class NetworkFiles:
    genesis: Path
    permissions: Path
    node_configs: tuple[Path, ...]
    validators: tuple[str, ...]
    enodes_known: bool


def write_network(
    out_dir: Path,
    *,
    accounts: Sequence[str],
    nodes: Sequence[BesuNode],
    options: QbftOptions,
    force: bool = False,
) -> NetworkFiles:
    """Write genesis, allowlists and one config per node under ``out_dir``.

    ``accounts`` are the consortium members' (allowlisted and funded). The first node with a
    known enode is every other node's bootnode (Besu requires bootnodes in the allowlist,
    which they are). Nothing is written into a non-empty directory unless ``force``.
    """
    if not nodes:
        raise BesuConfigError("no nodes: give validators or a nodes file")
    validators = [n.validator_address for n in nodes if n.validator_address is not None]
    genesis_content = genesis(validators=validators, accounts=accounts, options=options)
    enodes = [n.enode for n in nodes if n.enode is not None]
    permissions = permissions_config(accounts=accounts, enodes=enodes)
    if out_dir.exists() and not out_dir.is_dir():
        raise BesuConfigError(f"{out_dir} is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise BesuConfigError(f"{out_dir} is not empty; overwrite its files with --force")
    out_dir.mkdir(parents=True, exist_ok=True)
    genesis_path = out_dir / GENESIS_FILE
    genesis_path.write_text(json.dumps(genesis_content, indent=2) + "\n", "utf-8")
    permissions_path = out_dir / PERMISSIONS_FILE
    _write_toml(permissions_path, permissions)
    configs = []
    for index, node in enumerate(nodes, start=1):
        node_dir = out_dir / f"node-{index}"
        node_dir.mkdir(exist_ok=True)
        _write_toml(node_dir / PERMISSIONS_FILE, permissions)
        config_path = node_dir / NODE_CONFIG_FILE
        _write_toml(config_path, node_config(node, index=index, bootnodes=enodes[:1]))
        configs.append(config_path)
    return NetworkFiles(
        genesis=genesis_path,
        permissions=permissions_path,
        node_configs=tuple(configs),
        validators=tuple(sorted(validators, key=str.lower)),
        enodes_known=bool(enodes),
    )


def _write_toml(path: Path, content: Mapping[str, Any]) -> None:
    path.write_text(tomli_w.dumps(content), "utf-8")
