"""The consortium's founding configuration (``consortium.toml``), parsed and checked in one place.

::

    [governance]
    voting_delay_s = 0              # seconds from proposing until the vote opens (default 0)
    voting_period_s = 604800        # seconds the vote stays open (default 7 days)

    [thresholds]                    # approvals a proposal of each kind needs
    default = 2                     # for every kind not named below (required if one is missing)
    change_threshold = 3            # admit_member, remove_member, change_threshold,
                                    # grant_role, revoke_role

    [[members]]                     # the founding members, at least one
    account = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # checksummed if mixed case
    name = "Alpha Securities"       # 1..64 bytes of UTF-8
    endpoint = "https://alpha.example/ledger"                # http(s) URL of its service
    roles = ["broker"]              # broker, auditor, regulator (none is allowed)
    request_signing_key = "04..."   # SM2 public key: 65-byte hex (04||x||y) or PEM text ...
    # request_signing_key_file = "keys/alpha.pub.pem"       # ... or a PEM/hex file (relative
    #                                                       #     to this file)
    # proof_sealing_key / proof_sealing_key_file             # optional, the same way

The request-signing key is the key the members admit (its SM3 fingerprint goes into the member
record) and is registered in the KeyRegistry at deployment, as is the proof-sealing key if given;
both valid from deployment, open-ended. Any mistake is one :class:`ConsortiumConfigError` naming
the file and the field; nothing is deployed from a file that does not parse whole.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_utils.address import is_address, is_checksum_address, to_checksum_address

from ledger.chain.consortium import (
    MAX_ENDPOINT_LENGTH,
    MAX_MEMBERS,
    MAX_NAME_LENGTH,
    MAX_PERIOD_S,
    ROLES,
    MemberSpec,
    ProposalKind,
    Thresholds,
)
from ledger.chain.keys import InitialKey
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey
from ledger.errors import ConfigurationError

DEFAULT_VOTING_PERIOD_S = 7 * 24 * 3600

_TOP = {"governance", "thresholds", "members"}
_GOVERNANCE = {"voting_delay_s", "voting_period_s"}
_KINDS = [kind.name.lower() for kind in ProposalKind]
_MEMBER = {
    "account",
    "name",
    "endpoint",
    "roles",
    "request_signing_key",
    "request_signing_key_file",
    "proof_sealing_key",
    "proof_sealing_key_file",
}


class ConsortiumConfigError(ConfigurationError):
    """The consortium configuration is unreadable or invalid (the message names the field)."""


@dataclass(frozen=True)
class FoundingMember:
    spec: MemberSpec
    request_signing_key: SM2PublicKey
    proof_sealing_key: SM2PublicKey | None


@dataclass(frozen=True)
class ConsortiumConfig:
    members: tuple[FoundingMember, ...]
    thresholds: Thresholds
    voting_delay_s: int
    voting_period_s: int

    @property
    def founders(self) -> list[MemberSpec]:
        return [member.spec for member in self.members]

    @property
    def initial_keys(self) -> list[InitialKey]:
        keys = []
        for member in self.members:
            account = member.spec.account
            keys.append(InitialKey(account, "request-signing", member.request_signing_key))
            if member.proof_sealing_key is not None:
                keys.append(InitialKey(account, "proof-sealing", member.proof_sealing_key))
        return keys


def dev_config(account: str, key: SM2PublicKey) -> ConsortiumConfig:
    """The consortium of the dev chain, deployed when a service starts on it without one: the
    service's account as its only member (a broker), its key for request signing and proof
    sealing, every threshold 1."""
    spec = MemberSpec(
        account=to_checksum_address(account),
        name="dev broker",
        endpoint="http://127.0.0.1:8000",
        key_fingerprint=key.fingerprint(),
        roles=("broker",),
    )
    return ConsortiumConfig(
        members=(FoundingMember(spec=spec, request_signing_key=key, proof_sealing_key=key),),
        thresholds=Thresholds(**{kind.name.lower(): 1 for kind in ProposalKind}),
        voting_delay_s=0,
        voting_period_s=DEFAULT_VOTING_PERIOD_S,
    )


def load_config(path: Path) -> ConsortiumConfig:
    """Read and check ``path`` (key files relative to its directory)."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConsortiumConfigError(f"{path}: cannot read: {exc}") from exc
    return parse_config(text, source=str(path), base=path.parent)


def parse_config(text: str, *, source: str, base: Path) -> ConsortiumConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConsortiumConfigError(f"{source}: not TOML: {exc}") from exc
    return _Parser(source, base).config(data)


def parse_public_key(value: str) -> SM2PublicKey:
    """An SM2 public key from hex (65 bytes 04||x||y, ``0x`` optional) or PEM text;
    :class:`ValueError` saying what is wrong."""
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            return SM2PublicKey.from_pem(text.encode("ascii"))
        raw = bytes.fromhex(text.removeprefix("0x"))
        return SM2PublicKey.from_raw(raw)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError("not hex of a 65-byte SM2 public key (04||x||y) nor a PEM key") from exc
    except CryptoError as exc:
        raise ValueError(f"not an SM2 public key: {exc}") from exc


class _Parser:
    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, where: str, message: str) -> ConsortiumConfigError:
        return ConsortiumConfigError(f"{self.source}: {where}: {message}")

    def config(self, data: Mapping[str, Any]) -> ConsortiumConfig:
        self.no_unknown("the file", data, _TOP)
        members_data = data.get("members")
        if not isinstance(members_data, list) or not members_data:
            raise self.fail("members", "at least one [[members]] table is required")
        if len(members_data) > MAX_MEMBERS:
            raise self.fail("members", f"at most {MAX_MEMBERS} members")
        members = tuple(self.member(f"members[{i}]", m) for i, m in enumerate(members_data))
        self.no_repeats(members)
        governance = self.table("governance", data.get("governance", {}))
        self.no_unknown("governance", governance, _GOVERNANCE)
        delay = self.integer("governance.voting_delay_s", governance.get("voting_delay_s", 0), 0)
        period = self.integer(
            "governance.voting_period_s",
            governance.get("voting_period_s", DEFAULT_VOTING_PERIOD_S),
            1,
        )
        return ConsortiumConfig(
            members=members,
            thresholds=self.thresholds(data.get("thresholds"), len(members)),
            voting_delay_s=delay,
            voting_period_s=period,
        )

    def thresholds(self, data: Any, count: int) -> Thresholds:
        table = self.table("thresholds", data if data is not None else {})
        self.no_unknown("thresholds", table, {"default", *_KINDS})
        values = []
        for kind in _KINDS:
            if kind not in table and "default" not in table:
                raise self.fail(f"thresholds.{kind}", "missing (or set thresholds.default)")
            where = f"thresholds.{kind}" if kind in table else "thresholds.default"
            value = self.integer(where, table.get(kind, table.get("default")), 1, count)
            values.append(value)
        return Thresholds(*values)

    def member(self, where: str, data: Any) -> FoundingMember:
        table = self.table(where, data)
        self.no_unknown(where, table, _MEMBER)
        account = self.string(f"{where}.account", table.get("account"))
        if not is_address(account) or (
            account != account.lower() and not is_checksum_address(account)
        ):
            raise self.fail(f"{where}.account", f"{account!r} is not a (checksummed) account")
        if int(account, 16) == 0:
            raise self.fail(f"{where}.account", "the zero address cannot be a member")
        name = self.string(f"{where}.name", table.get("name"))
        self.length(f"{where}.name", name, MAX_NAME_LENGTH)
        endpoint = self.string(f"{where}.endpoint", table.get("endpoint"))
        self.length(f"{where}.endpoint", endpoint, MAX_ENDPOINT_LENGTH)
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail(f"{where}.endpoint", f"{endpoint!r} is not an http(s) URL")
        roles = table.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise self.fail(f"{where}.roles", "must be a list of role names")
        for role in roles:
            if role not in ROLES:
                raise self.fail(
                    f"{where}.roles", f"unknown role {role!r} (roles: {', '.join(ROLES)})"
                )
        if len(set(roles)) != len(roles):
            raise self.fail(f"{where}.roles", "a role is listed twice")
        signing = self.key(where, table, "request_signing_key", required=True)
        assert signing is not None
        spec = MemberSpec(
            account=to_checksum_address(account),
            name=name,
            endpoint=endpoint,
            key_fingerprint=signing.fingerprint(),
            roles=tuple(roles),
        )
        sealing = self.key(where, table, "proof_sealing_key", required=False)
        return FoundingMember(spec=spec, request_signing_key=signing, proof_sealing_key=sealing)

    def key(
        self, where: str, table: Mapping[str, Any], field: str, *, required: bool
    ) -> SM2PublicKey | None:
        inline, file_field = table.get(field), f"{field}_file"
        from_file = table.get(file_field)
        if inline is not None and from_file is not None:
            raise self.fail(f"{where}.{field}", f"give {field} or {file_field}, not both")
        if inline is None and from_file is None:
            if required:
                raise self.fail(f"{where}.{field}", f"missing (or {file_field})")
            return None
        if inline is not None:
            at, text = f"{where}.{field}", self.string(f"{where}.{field}", inline)
        else:
            at = f"{where}.{file_field}"
            path = self.base / self.string(at, from_file)
            try:
                text = path.read_text("ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise self.fail(at, f"cannot read {path}: {exc}") from exc
        try:
            return parse_public_key(text)
        except ValueError as exc:
            raise self.fail(at, str(exc)) from exc

    def no_repeats(self, members: tuple[FoundingMember, ...]) -> None:
        seen_accounts: dict[str, int] = {}
        seen_keys: dict[SM2PublicKey, int] = {}
        for i, member in enumerate(members):
            account = member.spec.account
            if account in seen_accounts:
                raise self.fail(
                    f"members[{i}].account", f"{account} is members[{seen_accounts[account]}] too"
                )
            seen_accounts[account] = i
            for key in (member.request_signing_key, member.proof_sealing_key):
                if key is None:
                    continue
                if seen_keys.get(key, i) != i:
                    raise self.fail(
                        f"members[{i}]", f"a key of members[{seen_keys[key]}] is listed again"
                    )
                seen_keys[key] = i

    # -- scalars ----------------------------------------------------------------------------

    def table(self, where: str, value: Any) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a table")
        return value

    def no_unknown(self, where: str, table: Mapping[str, Any], known: set[str]) -> None:
        unknown = sorted(set(table) - known)
        if unknown:
            raise self.fail(
                where, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(known))})"
            )

    def string(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "must be a non-empty string")
        return value

    def length(self, where: str, value: str, limit: int) -> None:
        size = len(value.encode("utf-8"))
        if size > limit:
            raise self.fail(where, f"{size} bytes of UTF-8, at most {limit}")

    def integer(self, where: str, value: Any, low: int, high: int = MAX_PERIOD_S) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, "must be an integer")
        if not low <= value <= high:
            raise self.fail(where, f"{value} is not within {low}..{high}")
        return value
