"""``ledger consortium ...``: deploy the consortium, govern it (propose, vote, execute, cancel),
show it, and manage this member's keys in the key registry.

Every command acts as the configured chain account (``LEDGER_CHAIN_PRIVATE_KEY``, or the dev
account on the managed dev chain) on the contracts recorded for the chain
(``LEDGER_DATA_DIR/deployments``). A refusal by a contract is one line naming its custom error
and arguments, exit status 2, and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ledger import _runtime
from ledger.chain.consortium import ROLES, MemberSpec, Proposal, ProposalKind
from ledger.chain.consortium_config import load_config, parse_public_key
from ledger.chain.deployments import Deployments, deploy_consortium
from ledger.chain.keys import PURPOSES
from ledger.cli.besu import besu_config, sync_permissions
from ledger.crypto.sm2 import SM2PublicKey
from ledger.errors import ConfigurationError
from ledger.member.governance import (
    Admit,
    Change,
    Governance,
    Grant,
    ProposalDone,
    Remove,
    Revoke,
    SetThreshold,
    parse_account,
    parse_id,
)
from ledger.settings import Settings


class _Time(click.ParamType[int]):
    """UNIX seconds or an ISO 8601 time with its offset (``2027-01-01T00:00:00Z``)."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value)
        if text.isdecimal():
            return int(text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither UNIX seconds nor an ISO 8601 time", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{text!r} has no UTC offset (add Z or +08:00)", param, ctx)
        return int(parsed.timestamp())


class _ProposalId(click.ParamType[bytes]):
    name = "proposal-id"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> bytes:
        try:
            return parse_id(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Account(click.ParamType[str]):
    name = "account"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return parse_account(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TIME, PROPOSAL_ID, ACCOUNT = _Time(), _ProposalId(), _Account()
KINDS = click.Choice([kind.label for kind in ProposalKind])


@contextmanager
def _governance() -> Iterator[Governance]:
    settings = Settings()
    with _runtime.chain_client(settings) as client:
        governance = Governance(
            client=client, deployments=Deployments(directory=settings.deployments_dir)
        )
        governance.contracts()  # none recorded: refused now, before anything is sent
        yield governance


def _public_key(key: str | None, key_file: Path | None) -> SM2PublicKey:
    if (key is None) == (key_file is None):
        raise click.UsageError("give the SM2 public key with --key or --key-file (one of them)")
    text = key if key is not None else key_file.read_text("ascii")  # type: ignore[union-attr]
    try:
        return parse_public_key(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--key/--key-file") from exc


def _key_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--key", help="SM2 public key: hex 04||x||y, or PEM text.")(command)
    return click.option(
        "--key-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="File with the SM2 public key (PEM or hex).",
    )(command)


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "open-ended"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _proposal_rows(proposals: Sequence[Proposal]) -> list[list[str]]:
    return [
        [
            "0x" + p.proposal_id.hex(),
            p.state.label,
            f"{p.approvals}/{p.threshold}",
            _when(p.vote_end),
            p.describe(),
        ]
        for p in proposals
    ]


_PROPOSAL_HEADERS = ("proposal", "state", "votes", "deadline", "change")


@click.group("consortium")
def consortium() -> None:
    """The consortium: members, roles, proposals and votes, and the members' SM2 keys."""


@consortium.command("init")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The consortium.toml with the founding members, keys and thresholds.",
)
@click.option("--force", is_flag=True, help="Deploy anew even if a consortium is recorded.")
def init(config_path: Path, force: bool) -> None:
    """Deploy the Consortium and its KeyRegistry from CONFIG and record them."""
    config = load_config(config_path)
    settings = Settings()
    with _runtime.chain_client(settings) as client:
        deployments = Deployments(directory=settings.deployments_dir)
        deployed = deploy_consortium(client, deployments, config, force=force)
        click.echo(f"Consortium {deployed.consortium.address} (chain {client.chain_id})")
        click.echo(f"KeyRegistry {deployed.key_registry.address} (chain {client.chain_id})")


@consortium.command("status")
def status() -> None:
    """Members with roles and key windows, thresholds, and the open proposals."""
    with _governance() as governance:
        overview = governance.overview()
        now = overview.at
        rows = []
        for member in overview.members:
            entries = governance.keys_of(member.account)
            shown = [
                f"{e.purpose} sm3:{e.fingerprint.hex()[:12]} {_when(e.not_before)}.."
                f"{_when(e.ends_at)}{' (revoked)' if e.revoked_at else ''}"
                f"{' valid' if e.valid_at(now) else ''}"
                for e in entries
            ] or ["-"]
            roles = ",".join(member.roles) or "-"
            rows.append([member.account, member.name, roles, member.endpoint, shown[0]])
            rows.extend(["", "", "", "", extra] for extra in shown[1:])
        click.echo(
            f"Consortium {overview.consortium}, KeyRegistry {overview.key_registry},"
            f" at {_when(now)}"
        )
        click.echo(_table(("account", "name", "roles", "endpoint", "keys"), rows))
        thresholds = overview.thresholds
        click.echo(
            "thresholds: "
            + ", ".join(f"{kind.label} {thresholds.of(kind)}" for kind in ProposalKind)
            + f"; voting delay {overview.voting_delay_s} s, period {overview.voting_period_s} s"
        )
        open_ones = governance.proposals(open_only=True)
        click.echo(f"open proposals: {len(open_ones)}")
        if open_ones:
            click.echo(_table(_PROPOSAL_HEADERS, _proposal_rows(open_ones)))


@consortium.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the decided ones.")
def list_proposals(show_all: bool) -> None:
    """The open proposals (with --all: every proposal), oldest first."""
    with _governance() as governance:
        shown = governance.proposals(open_only=not show_all)
        click.echo(_table(_PROPOSAL_HEADERS, _proposal_rows(shown)))


@consortium.group("propose")
def propose() -> None:
    """Propose a change; prints the proposal's ID."""


def _proposed(change: Change) -> None:
    with _governance() as governance:
        click.echo("0x" + governance.propose(change).proposal.proposal_id.hex())


@propose.command("admit")
@click.option("--account", type=ACCOUNT, required=True)
@click.option("--name", required=True, help="Display name (1..64 bytes).")
@click.option("--endpoint", required=True, help="URL of the member's service.")
@click.option("--role", "roles", type=click.Choice(ROLES), multiple=True)
@_key_options
def admit(
    account: str,
    name: str,
    endpoint: str,
    roles: tuple[str, ...],
    key: str | None,
    key_file: Path | None,
) -> None:
    """Admit a member with its request-signing key and roles."""
    spec = MemberSpec(
        account=account,
        name=name,
        endpoint=endpoint,
        key_fingerprint=_public_key(key, key_file).fingerprint(),
        roles=roles,
    )
    _proposed(Admit(spec))


@propose.command("remove")
@click.argument("account", type=ACCOUNT)
def remove(account: str) -> None:
    """Remove a member."""
    _proposed(Remove(account))


@propose.command("threshold")
@click.argument("kind", type=KINDS)
@click.argument("value", type=click.IntRange(min=1))
def threshold(kind: str, value: int) -> None:
    """Set the threshold of proposals of KIND."""
    _proposed(SetThreshold(ProposalKind.of_label(kind), value))


@propose.command("grant")
@click.argument("account", type=ACCOUNT)
@click.argument("role", type=click.Choice(ROLES))
def grant(account: str, role: str) -> None:
    """Grant ROLE to a member."""
    _proposed(Grant(account, role))


@propose.command("revoke")
@click.argument("account", type=ACCOUNT)
@click.argument("role", type=click.Choice(ROLES))
def revoke(account: str, role: str) -> None:
    """Revoke ROLE from a member."""
    _proposed(Revoke(account, role))


def _on_proposal(verb: str, act: Callable[[Governance, bytes], ProposalDone]) -> click.Command:
    @click.argument("proposal_id", type=PROPOSAL_ID)
    def command(proposal_id: bytes) -> None:
        with _governance() as governance:
            done = act(governance, proposal_id)
            click.echo(f"{verb}: now {done.proposal.state.label}")

    return click.command(verb)(command)


consortium.add_command(_on_proposal("vote", Governance.vote))
consortium.add_command(_on_proposal("execute", Governance.execute))
consortium.add_command(_on_proposal("cancel", Governance.cancel))
consortium.add_command(besu_config)
consortium.add_command(sync_permissions)


@consortium.group("keys")
def keys() -> None:
    """This member's SM2 keys in the key registry."""


@keys.command("register")
@click.argument("purpose", type=click.Choice(PURPOSES))
@_key_options
@click.option("--not-before", type=TIME, default=0, help="Start (default: now).")
@click.option("--not-after", type=TIME, default=None, help="End (default: open-ended).")
def register(
    purpose: str, key: str | None, key_file: Path | None, not_before: int, not_after: int | None
) -> None:
    """Register a key for PURPOSE; prints its key ID."""
    public = _public_key(key, key_file)
    with _governance() as governance:
        done = governance.register_key(purpose, public, not_before=not_before, not_after=not_after)
        click.echo("0x" + done.key.key_id.hex())


@keys.command("rotate")
@click.argument("old_key_id", type=PROPOSAL_ID)
@_key_options
@click.option("--not-before", type=TIME, default=0, help="Switch-over time (default: now).")
@click.option("--not-after", type=TIME, default=None, help="End of the new key.")
def rotate(
    old_key_id: bytes,
    key: str | None,
    key_file: Path | None,
    not_before: int,
    not_after: int | None,
) -> None:
    """Replace OLD_KEY_ID by a new key: the old one ends where the new one starts."""
    public = _public_key(key, key_file)
    with _governance() as governance:
        done = governance.rotate_key(old_key_id, public, not_before=not_before, not_after=not_after)
        click.echo("0x" + done.key.key_id.hex())


@keys.command("rotate-sealing")
@click.option("--not-before", type=TIME, default=0, help="Switch-over time (default: now).")
def rotate_sealing(not_before: int) -> None:
    """Give this member's service a new proof-sealing key: made in the service keystore
    (`proof-sealing-<time>`) and rotated in on chain for its sealing key valid now. The running
    service seals with it from the switch-over on; proofs sealed before keep verifying."""
    settings = Settings()
    sealing = _runtime.SealingKeys(settings)
    with _governance() as governance:
        _, registry = governance.contracts()
        ours = {key.public_key().fingerprint() for key in sealing.candidates()}
        current = registry.valid_keys_at(
            governance.account, "proof-sealing", governance.chain_time()
        )
        old = next((entry for entry in current if entry.fingerprint in ours), None)
        if old is None:
            raise ConfigurationError(
                "none of this service's sealing keys is valid on chain now: register one with"
                " `ledger consortium keys register proof-sealing --key-file ...`"
            )
        name, key = _runtime.new_sealing_key(settings, now=datetime.now(UTC))
        try:
            done = governance.rotate_key(old.key_id, key.public_key(), not_before=not_before)
        except BaseException:
            _runtime.keystore(settings).remove(name)  # nothing was rotated: no stray key
            raise
        click.echo(f"{name} 0x{done.key.key_id.hex()} (replaces 0x{old.key_id.hex()})")


@keys.command("revoke")
@click.argument("key_id", type=PROPOSAL_ID)
@click.option("--at", "effective_at", type=TIME, default=0, help="Effective time (default: now).")
def revoke_key(key_id: bytes, effective_at: int) -> None:
    """Revoke KEY_ID from --at on; signatures made before stay valid."""
    with _governance() as governance:
        done = governance.revoke_key(key_id, effective_at=effective_at)
        click.echo(f"revoked from {_when(done.key.revoked_at)}")


@keys.command("list")
@click.argument("member", type=ACCOUNT, required=False)
def list_keys(member: str | None) -> None:
    """The keys of MEMBER (default: this account) with their windows."""
    with _governance() as governance:
        rows = [
            [
                "0x" + e.key_id.hex(),
                e.purpose,
                "sm3:" + e.fingerprint.hex(),
                _when(e.not_before),
                _when(e.ends_at),
                "revoked" if e.revoked_at else "",
            ]
            for e in governance.keys_of(member or governance.account)
        ]
        headers = ("key", "purpose", "fingerprint", "from", "until", "")
        click.echo(_table(headers, rows))
