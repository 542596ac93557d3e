"""``ledger client ...``: call a member's service with every request signed (RFC 9421, SM2-SM3)
by :class:`~ledger.client.LedgerClient`, so nobody hand-rolls the signature::

    ledger client --key-file broker.pem get /v1/consortium
    ledger client --key-file broker.pem post /v1/agreements --json body.json   # or --json -
    ledger client --key-file broker.pem agreements show agr_...
    ledger client --key-file broker.pem proof agr_... --out agr.proof.json
    ledger client --key-file broker.pem consortium propose grant 0xAb... auditor

The service is ``--url``, else ``LEDGER_CLIENT_URL``, else ``LEDGER_API_PUBLIC_ORIGIN``, else
this host's API. The key is ``--key-file`` (an unencrypted PEM, or a keystore document) or
``--keystore DIR --name NAME``; a keystore's password comes from ``$LEDGER_KEY_PASSWORD`` or a
prompt. ``--keyid`` defaults to ``sm3:<fingerprint>``, as registered keys are named.

A JSON reply is printed as JSON; an error status is one line on stderr (status, problem type and
what the service said) and exit status 2, as every refusal of the ``ledger`` command.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import httpx

from ledger.chain.consortium import ROLES, ProposalKind
from ledger.cli.consortium import ACCOUNT, PROPOSAL_ID
from ledger.cli.sm2 import InputFileError, load_private
from ledger.client import LedgerClient, refusal_line
from ledger.errors import LedgerError
from ledger.settings import Settings

_MAX_JSON_FILE = 64 * 1024 * 1024


class RequestRefused(LedgerError):
    """The service answered with an error status (the message: one line of its problem)."""


class ServiceUnreachable(LedgerError):
    """No answer from the service."""


@dataclass
class _Options:
    url: str | None
    key_file: Path | None
    keystore: Path | None
    name: str | None
    keyid: str | None
    client: LedgerClient | None = None

    def connect(self, ctx: click.Context) -> LedgerClient:
        """The signing client, made on first use (so ``--help`` needs no key)."""
        if self.client is None:
            key = load_private(self.key_file, self.keystore, self.name, key_option="--key-file")
            url = self.url or Settings().resolved_client_url
            self.client = ctx.with_resource(LedgerClient(base_url=url, key=key, keyid=self.keyid))
        return self.client


def _call(method: str, path: str, *, body: bytes | None = None, **options: Any) -> httpx.Response:
    """Send one signed request; the reply if its status is 2xx, else :class:`RequestRefused`."""
    ctx = click.get_current_context()
    client = ctx.find_object(_Options)
    assert client is not None  # the group always sets it
    headers = {"Content-Type": "application/json"} if body is not None else None
    try:
        reply = client.connect(ctx).request(method, path, content=body, headers=headers, **options)
    except httpx.HTTPError as exc:
        raise ServiceUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
    if not reply.is_success:
        raise RequestRefused(f"{method} {path}: {_refusal(reply)}")
    return reply


#: One line of a refused request (the home of the format is :func:`ledger.client.refusal_line`).
_refusal = refusal_line


def _print(reply: httpx.Response) -> None:
    try:
        click.echo(json.dumps(reply.json(), indent=2, ensure_ascii=False))
    except ValueError:
        click.echo(reply.text)


def _json_body(source: Path | None) -> bytes | None:
    """The bytes of ``--json FILE`` (``-``: stdin), checked to be JSON."""
    if source is None:
        return None
    try:
        if str(source) == "-":
            data = sys.stdin.buffer.read(_MAX_JSON_FILE + 1)
        else:
            with source.open("rb") as handle:
                data = handle.read(_MAX_JSON_FILE + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(data) > _MAX_JSON_FILE:
        raise InputFileError(f"{source} is over {_MAX_JSON_FILE} bytes")
    try:
        json.loads(data)
    except ValueError as exc:
        raise InputFileError(f"{source} is not JSON: {exc}") from None
    return data


def _send_json(method: str, path: str, body: dict[str, Any]) -> None:
    _print(_call(method, path, body=json.dumps(body).encode()))


_path = click.Path(dir_okay=False, path_type=Path)
_json_option = click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="The JSON body: a file, or - for stdin.",
)


@click.group("client")
@click.option("--url", help="The service (default: LEDGER_CLIENT_URL, or the API origin).")
@click.option("--key-file", type=_path, help="PEM private key, or a keystore document.")
@click.option("--keystore", type=click.Path(file_okay=False, path_type=Path), help="With --name.")
@click.option("--name", help="Key name in the keystore.")
@click.option("--keyid", help="The keyid to sign as (default: sm3:<fingerprint>).")
@click.pass_context
def client(
    ctx: click.Context,
    url: str | None,
    key_file: Path | None,
    keystore: Path | None,
    name: str | None,
    keyid: str | None,
) -> None:
    """Call a member's service, every request signed with your SM2 key."""
    ctx.obj = _Options(url=url, key_file=key_file, keystore=keystore, name=name, keyid=keyid)


@client.command("get")
@click.argument("path")
def get(path: str) -> None:
    """GET PATH (with its query, if any) and print the JSON reply."""
    _print(_call("GET", path))


@client.command("post")
@click.argument("path")
@_json_option
def post(path: str, json_file: Path | None) -> None:
    """POST PATH with the JSON body of --json (none without it)."""
    _print(_call("POST", path, body=_json_body(json_file)))


@client.command("delete")
@click.argument("path")
@_json_option
def delete(path: str, json_file: Path | None) -> None:
    """DELETE PATH (with a JSON body, such as a customer's signed erasure request)."""
    _print(_call("DELETE", path, body=_json_body(json_file)))


@client.group("agreements")
def agreements() -> None:
    """Agreements you may read."""


@agreements.command("show")
@click.argument("agreement_id")
def show(agreement_id: str) -> None:
    """Every version of the agreement, its state, owner and erasures."""
    _print(_call("GET", f"/v1/agreements/{quote(agreement_id, safe='')}"))


@client.command("proof")
@click.argument("agreement_id")
@click.option("--version", type=click.IntRange(min=1), help="Default: the current version.")
@click.option("--out", type=_path, required=True, help="Where to write the proof file.")
def proof(agreement_id: str, version: int | None, out: Path) -> None:
    """Download the proof file of an anchored version of the agreement."""
    base = f"/v1/agreements/{quote(agreement_id, safe='')}"
    if version is None:
        version = _call("GET", base).json().get("current_version")
        if version is None:
            raise RequestRefused(f"agreement {agreement_id} has no accepted version yet")
    data = _call("GET", f"{base}/versions/{version}/proof").content
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"{out}: proof of {agreement_id} version {version} ({len(data)} bytes)")


# -- the consortium --------------------------------------------------------------------------

_PROPOSALS = "/v1/consortium/proposals"


@client.group("consortium")
def consortium() -> None:
    """The consortium as the service's member sees and governs it (writes: only the member
    that runs the service)."""


@consortium.command("status")
def status() -> None:
    """Members, roles, endpoints, thresholds, voting delay and period."""
    _print(_call("GET", "/v1/consortium"))


@consortium.command("proposals")
@click.option("--state", help="Only those in this state (active, succeeded, executed ...).")
def proposals(state: str | None) -> None:
    """Every proposal, oldest first."""
    _print(_call("GET", _PROPOSALS, params=None if state is None else {"state": state}))


@consortium.command("keys")
@click.argument("account", type=ACCOUNT)
def keys(account: str) -> None:
    """The keys a member registered, with their windows."""
    _print(_call("GET", f"/v1/consortium/members/{account}/keys"))


@consortium.group("propose")
def propose() -> None:
    """Propose a change, from the service's chain account."""


@propose.command("admit")
@click.option("--account", type=ACCOUNT, required=True)
@click.option("--name", required=True, help="Display name.")
@click.option("--endpoint", required=True, help="URL of the member's service.")
@click.option("--role", "roles", type=click.Choice(ROLES), multiple=True)
@click.option("--public-key", required=True, help="Its request-signing key: hex or PEM text.")
def admit(account: str, name: str, endpoint: str, roles: tuple[str, ...], public_key: str) -> None:
    """Admit a member with its request-signing key and roles."""
    body = {
        "kind": ProposalKind.ADMIT_MEMBER.label,
        "account": account,
        "name": name,
        "endpoint": endpoint,
        "public_key": public_key,
        "roles": list(roles),
    }
    _send_json("POST", _PROPOSALS, body)


@propose.command("remove")
@click.argument("account", type=ACCOUNT)
def remove(account: str) -> None:
    """Remove a member."""
    _send_json("POST", _PROPOSALS, {"kind": ProposalKind.REMOVE_MEMBER.label, "account": account})


@propose.command("threshold")
@click.argument("target", type=click.Choice([k.label for k in ProposalKind]))
@click.argument("value", type=click.IntRange(min=1))
def threshold(target: str, value: int) -> None:
    """Set the threshold of proposals of TARGET kind."""
    body = {"kind": ProposalKind.CHANGE_THRESHOLD.label, "target": target, "threshold": value}
    _send_json("POST", _PROPOSALS, body)


def _role_change(verb: str, kind: ProposalKind, what: str) -> click.Command:
    @click.argument("account", type=ACCOUNT)
    @click.argument("role", type=click.Choice(ROLES))
    def command(account: str, role: str) -> None:
        _send_json("POST", _PROPOSALS, {"kind": kind.label, "account": account, "role": role})

    return click.command(verb, help=what)(command)


propose.add_command(_role_change("grant", ProposalKind.GRANT_ROLE, "Grant ROLE to a member."))
propose.add_command(_role_change("revoke", ProposalKind.REVOKE_ROLE, "Revoke ROLE from a member."))


def _on_proposal(verb: str, suffix: str, what: str) -> click.Command:
    @click.argument("proposal_id", type=PROPOSAL_ID)
    def command(proposal_id: bytes) -> None:
        _print(_call("POST", f"{_PROPOSALS}/0x{proposal_id.hex()}/{suffix}"))

    return click.command(verb, help=f"{what}, from the service's chain account.")(command)


consortium.add_command(_on_proposal("vote", "votes", "Vote for the proposal"))
consortium.add_command(_on_proposal("execute", "execute", "Carry out a proposal that succeeded"))
consortium.add_command(_on_proposal("cancel", "cancel", "Cancel a proposal of this member"))
