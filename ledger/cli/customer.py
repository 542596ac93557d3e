"""``ledger customer ...``: the customer's side of consent, from its own SM2 key::

    ledger customer keygen --out me.key.json    # password: $LEDGER_KEY_PASSWORD or a prompt
    ledger customer --key me.key.json show
    ledger customer --key me.key.json grant --grantee 0xAb... --attestation 0x... \\
        --field family_name --field id_number --purpose account-opening --method verify-and-store \\
        --until 2027-06-30T00:00:00Z --notice notice.txt --recipient-name "Beta Brokerage" \\
        --recipient-contact privacy@beta.example --category identity --sensitive \\
        --language zh-CN --send https://beta.example           # or --out grant.json
    ledger customer --key me.key.json revoke 0x<grant id> --send https://beta.example
    ledger customer --key me.key.json authorize-use 0x<grant id> --field id_number \\
        --purpose account-opening --grantee 0xAb... --url https://alpha.example --out use.json
    ledger customer --key me.key.json grants --url https://beta.example --attestation 0x...
    ledger customer --key me.key.json proof 0x<grant id> --service https://alpha.example \
        --out consent.proof.json                              # then: ledger verify FILE

What is signed is for one chain and ConsentRegistry: asked of the service (``--send``/``--url``:
``GET /v1/consent-domain``), or given as ``--chain-id`` and ``--registry``. Requests to a
service are signed with the customer's key under its keyid ``sm2:<public key hex>``. The key is
``--key`` (else ``$LEDGER_CUSTOMER_KEY``), a keystore file ``keygen`` wrote. Times are ISO 8601
with an offset (``2027-06-30T00:00:00Z``) or UNIX seconds. Every refusal is one line on
stderr and exit status 2.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

from ledger import canonical
from ledger.chain.consent import Mode
from ledger.cli.client import RequestRefused, ServiceUnreachable, _refusal
from ledger.cli.consortium import ACCOUNT, TIME
from ledger.cli.sm2 import InputFileError, _password, _read
from ledger.client import LedgerClient
from ledger.customer import (
    ConsentDomain,
    CustomerWallet,
    SignedGrant,
    SignedRevocation,
    SignedUse,
    read_wallet_public_key,
    to_bytes,
)
from ledger.member.governance import parse_id
from ledger.proof import ProofInvalid, VerifiedConsentProof, verify_file

_MAX_NOTICE = 64 * 1024
_path = click.Path(dir_okay=False, path_type=Path)


@dataclass
class _Options:
    key: Path | None

    def path(self) -> Path:
        if self.key is None:
            raise click.UsageError("give the customer's key: --key FILE (or $LEDGER_CUSTOMER_KEY)")
        return self.key

    def wallet(self) -> CustomerWallet:
        return CustomerWallet.open(self.path(), _password())


def _options() -> _Options:
    options = click.get_current_context().find_object(_Options)
    assert options is not None  # the group sets it
    return options


class _Id(click.ParamType[bytes]):
    name = "id"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> bytes:
        try:
            return parse_id(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


ID = _Id()


# -- talking to a service ----------------------------------------------------------------------


def _client(url: str, wallet: CustomerWallet) -> LedgerClient:
    ctx = click.get_current_context()
    return ctx.with_resource(LedgerClient(base_url=url, key=wallet.key, keyid=wallet.keyid))


def _reply(client: LedgerClient, method: str, path: str, **options: Any) -> httpx.Response:
    try:
        reply = client.request(method, path, **options)
    except httpx.HTTPError as exc:
        raise ServiceUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
    if not reply.is_success:
        raise RequestRefused(f"{method} {path}: {_refusal(reply)}")
    return reply


def _call(client: LedgerClient, method: str, path: str, **options: Any) -> Any:
    reply = _reply(client, method, path, **options)
    try:
        return reply.json()
    except ValueError:
        raise RequestRefused(f"{method} {path}: the reply is not JSON") from None


def _domain(
    client: LedgerClient | None, chain_id: int | None, registry: str | None
) -> ConsentDomain:
    if chain_id is not None and registry is not None:
        return ConsentDomain(chain_id=chain_id, registry=registry)
    if client is None:
        raise click.UsageError("give the service (--send/--url), or --chain-id and --registry")
    body = _call(client, "GET", "/v1/consent-domain")
    return ConsentDomain(chain_id=int(body["chain_id"]), registry=str(body["registry"]))


def _write(out: Path, data: bytes) -> None:
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None


def _deliver(
    signed: SignedGrant | SignedRevocation | SignedUse, out: Path | None, what: str
) -> None:
    if out is None:
        click.echo(to_bytes(signed).decode(), nl=False)
    else:
        _write(out, to_bytes(signed))
        click.echo(f"{out}: {what} 0x{signed.digest.hex()}")


def _echo(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


_domain_options = [
    click.option("--chain-id", type=click.IntRange(min=1), help="With --registry: sign offline."),
    click.option("--registry", type=ACCOUNT, help="The ConsentRegistry (with --chain-id)."),
]


def _with_domain(command: Any) -> Any:
    for option in reversed(_domain_options):
        command = option(command)
    return command


# -- the commands ------------------------------------------------------------------------------


@click.group("customer")
@click.option("--key", type=_path, envvar="LEDGER_CUSTOMER_KEY", help="The keystore file.")
@click.pass_context
def customer(ctx: click.Context, key: Path | None) -> None:
    """The customer's consents: its key, grants, revocations and per-use authorizations."""
    ctx.obj = _Options(key=key)


@customer.command("keygen")
@click.option("--out", type=_path, required=True, help="The keystore file to create.")
def keygen(out: Path) -> None:
    """Make the customer's SM2 key, in a new keystore file (mode 0600)."""
    wallet = CustomerWallet.create(out, _password(confirm=True))
    click.echo(f"{out}: keyid {wallet.keyid}")


@customer.command("show")
def show() -> None:
    """The public key, its fingerprint and the keyid requests are signed under (no password)."""
    from ledger.member.directory import customer_keyid

    public = read_wallet_public_key(_options().path())
    _echo(
        {
            "public_key": canonical.hex0x(public.to_raw()),
            "fingerprint": canonical.label("sm3", public.fingerprint()),
            "keyid": customer_keyid(public),
        }
    )


@customer.command("grant")
@click.option("--grantee", type=ACCOUNT, required=True, help="The member granted the data.")
@click.option("--attestation", type=ID, required=True, help="The attestation ID.")
@click.option("--field", "fields", multiple=True, required=True, help="A field name (repeat).")
@click.option("--purpose", "purposes", multiple=True, required=True, help="A purpose (repeat).")
@click.option("--method", required=True, help="The processing method.")
@click.option("--from", "not_before", type=TIME, help="Valid from (default: now).")
@click.option("--until", "not_after", type=TIME, required=True, help="Valid until (excluded).")
@click.option("--max-uses", type=click.IntRange(0, 2**32 - 1), default=0, help="0: no limit.")
@click.option("--per-use", is_flag=True, help="Every use needs a fresh authorize-use.")
@click.option("--notice", type=_path, required=True, help="The notice text shown (UTF-8 file).")
@click.option("--recipient-name", required=True)
@click.option("--recipient-contact", required=True)
@click.option("--category", "categories", multiple=True, required=True, help="Data category.")
@click.option("--sensitive", is_flag=True, help="Sensitive personal information (PIPL Art. 28).")
@click.option("--language", required=True, help="The notice's language (BCP 47, zh-CN).")
@click.option("--out", type=_path, help="Write the signed grant here.")
@click.option("--send", "url", help="Relay it through this member's service.")
@_with_domain
def grant(
    grantee: str,
    attestation: bytes,
    fields: tuple[str, ...],
    purposes: tuple[str, ...],
    method: str,
    not_before: int | None,
    not_after: int,
    max_uses: int,
    per_use: bool,
    notice: Path,
    recipient_name: str,
    recipient_contact: str,
    categories: tuple[str, ...],
    sensitive: bool,
    language: str,
    out: Path | None,
    url: str | None,
    chain_id: int | None,
    registry: str | None,
) -> None:
    """Sign a consent to GRANTEE's use of the attestation's fields (and relay it)."""
    try:
        notice_text = _read(notice, "notice", limit=_MAX_NOTICE).decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"the notice {notice} is not UTF-8 text") from None
    if not_before is None:
        not_before = int(time.time())
    wallet = _options().wallet()
    client = None if url is None else _client(url, wallet)
    signed = wallet.grant(
        _domain(client, chain_id, registry),
        grantee=grantee,
        attestation_id=attestation,
        fields=fields,
        purposes=purposes,
        method=method,
        not_before=not_before,
        not_after=not_after,
        notice_text=notice_text,
        recipient_name=recipient_name,
        recipient_contact=recipient_contact,
        categories=categories,
        sensitive=sensitive,
        language=language,
        max_uses=max_uses,
        mode=Mode.PER_USE if per_use else Mode.STANDING,
    )
    if out is not None or client is None:
        _deliver(signed, out, "grant")
    if client is not None:
        _echo(_call(client, "POST", "/v1/consents", json=json.loads(to_bytes(signed))))


@customer.command("revoke")
@click.argument("grant_id", type=ID)
@click.option("--out", type=_path, help="Write the signed revocation here.")
@click.option("--send", "url", help="Relay it through this member's service.")
@_with_domain
def revoke(
    grant_id: bytes, out: Path | None, url: str | None, chain_id: int | None, registry: str | None
) -> None:
    """Sign the revocation of GRANT_ID (and relay it): no use succeeds from its block on."""
    wallet = _options().wallet()
    client = None if url is None else _client(url, wallet)
    signed = wallet.revoke(_domain(client, chain_id, registry), grant_id)
    if out is not None or client is None:
        _deliver(signed, out, "revocation")
    if client is not None:
        path = f"/v1/consents/0x{grant_id.hex()}/revocations"
        _echo(_call(client, "POST", path, json=json.loads(to_bytes(signed))))


@customer.command("authorize-use")
@click.argument("grant_id", type=ID)
@click.option("--field", "fields", multiple=True, required=True, help="A field (repeat).")
@click.option("--purpose", required=True)
@click.option("--grantee", type=ACCOUNT, required=True, help="The member that will use it.")
@click.option("--url", help="A member's service, to learn what to sign for.")
@click.option("--out", type=_path, help="Write the signed authorization here (default: stdout).")
@_with_domain
def authorize_use(
    grant_id: bytes,
    fields: tuple[str, ...],
    purpose: str,
    grantee: str,
    url: str | None,
    out: Path | None,
    chain_id: int | None,
    registry: str | None,
) -> None:
    """Sign one use of a per-use grant, now: the grantee sends it with its request."""
    wallet = _options().wallet()
    client = None if url is None else _client(url, wallet)
    signed = wallet.authorize_use(
        _domain(client, chain_id, registry),
        grant_id=grant_id,
        grantee=grantee,
        fields=fields,
        purpose=purpose,
    )
    _deliver(signed, out, "authorization of a use under")


@customer.command("grants")
@click.option("--url", required=True, help="A member's service.")
@click.option("--attestation", "attestations", type=ID, multiple=True, required=True)
def grants(url: str, attestations: tuple[bytes, ...]) -> None:
    """Each of your grants under the attestations, with its state (in force, revoked,
    expired, inert ...) and every use the service recorded under it (its access receipts, with
    their anchoring), as an app shows them."""
    client = _client(url, _options().wallet())
    shown = []
    for attestation in attestations:
        body = _call(
            client, "GET", "/v1/consents", params={"attestation": f"0x{attestation.hex()}"}
        )
        for one in body["grants"]:
            uses = _call(client, "GET", f"/v1/consents/{one['grant_id']}/receipts")
            shown.append(
                {
                    "grant_id": one["grant_id"],
                    "attestation_id": body["attestation_id"],
                    "grantee": one["grant"]["grantee"],
                    "state": one["state"],
                    "in_force": one["in_force"],
                    "mode": one["grant"]["mode"],
                    "not_before": one["grant"]["not_before"],
                    "not_after": one["grant"]["not_after"],
                    "max_uses": one["grant"]["max_uses"],
                    "revoked_at": (one["effective_revocation"] or {}).get("at"),
                    "receipts": [
                        {
                            "receipt_id": used["receipt_id"],
                            "caller": used["receipt"]["caller"],
                            "fields": used["receipt"]["fields"],
                            "purpose": used["receipt"]["purpose"],
                            "used_at": used["receipt"]["used_at"],
                            "status": used["status"],
                            "transaction": (used["inclusion"] or {}).get("transaction"),
                        }
                        for used in uses["receipts"]
                    ],
                }
            )
    _echo({"grants": shown})


@customer.command("proof")
@click.argument("grant_id", type=ID)
@click.option("--service", "url", required=True, help="A member's service (the attester's).")
@click.option("--out", type=_path, required=True, help="Write the proof file here.")
def proof(grant_id: bytes, url: str, out: Path) -> None:
    """Download the proof of consent of GRANT_ID (ledger-consent-proof/1): your signed grant as
    recorded, its attestation, its revocations and every use the service recorded under it
    with its inclusion proof. It is checked offline before it is written; `ledger verify FILE`
    checks it again, anywhere (with --rpc against the chain)."""
    client = _client(url, _options().wallet())
    path = f"/v1/consents/0x{grant_id.hex()}/proof"
    data = _reply(client, "GET", path).content
    try:
        verified = verify_file(data)
    except ProofInvalid as exc:
        raise RequestRefused(f"GET {path}: the file does not verify: {exc}") from None
    if not isinstance(verified, VerifiedConsentProof) or verified.record.grant_id != grant_id:
        raise RequestRefused(f"GET {path}: the file is not the proof of this grant")
    _write(out, data)
    click.echo(
        f"{out}: proof of consent 0x{grant_id.hex()}, {len(verified.receipts)} use(s) proven,"
        f" {len(verified.pending)} pending, sealed by"
        f" {canonical.label('sm3', verified.issuer_fingerprint)}"
    )


__all__ = ["customer"]
