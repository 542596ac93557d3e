"""``ledger customer ...`` against real members' services (``python -m api`` on one anvil, one
ConsentRegistry): a key made by ``keygen`` and attested by member A; a grant signed and relayed
through B's service, listed with its state, revoked; a grant and a per-use authorization signed
offline to files the API and the library read; refusals one line on stderr and exit 2."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger.chain.consent import signs
from ledger.cli import cli
from ledger.customer import SignedGrant, SignedUse, parse, read_wallet_public_key
from ledger.member import customer_keyid
from tests._fixtures.consent_services import ConsentServices, consent_services
from tests._fixtures.consortium import chain_time

PASSWORD = "customer-test-password"
ENV = {"LEDGER_KEY_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def found(
    tmp_path_factory: pytest.TempPathFactory, governance_url: str
) -> Iterator[ConsentServices]:
    directory = tmp_path_factory.mktemp("customer-cli")
    with consent_services(governance_url, directory, count=2) as services:
        yield services


@pytest.fixture(scope="module")
def key(found: ConsentServices, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("customer-key") / "me.key.json"
    result = _run("keygen", "--out", str(path))
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def attestation(found: ConsentServices, key: Path) -> str:
    """Member A attested the key keygen made (its public key read without the password)."""
    from ledger.crypto.keystore import decrypt_key

    customer = decrypt_key(key.read_bytes(), PASSWORD.encode())
    return "0x" + found.attest(customer).hex()


def _run(*args: str, key: Path | None = None) -> Result:
    head = ["customer"] + ([] if key is None else ["--key", str(key)])
    return CliRunner().invoke(cli, [*head, *args], env=ENV)


def _ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _refused(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: {message}"), result.output


def _grant_args(found: ConsentServices, attestation: str, tmp: Path, grantee: int = 1) -> list[str]:
    notice = tmp / "notice.txt"
    notice.write_text("向 Beta Brokerage 提供您的身份信息用于开户\n", encoding="utf-8")
    until = chain_time(found.registry.client) + 30 * 24 * 3600
    return [
        "grant",
        "--grantee",
        found.members.deployed.members[grantee].address.lower(),
        "--attestation",
        attestation,
        "--field",
        "family_name",
        "--field",
        "id_number",
        "--purpose",
        "account-opening",
        "--method",
        "verify-and-store",
        "--from",
        str(chain_time(found.registry.client)),
        "--until",
        str(until),
        "--max-uses",
        "2",
        "--notice",
        str(notice),
        "--recipient-name",
        "Beta Brokerage",
        "--recipient-contact",
        "privacy@beta.example",
        "--category",
        "identity",
        "--sensitive",
        "--language",
        "zh-CN",
    ]


def test_show_needs_no_password(key: Path) -> None:
    shown = json.loads(
        CliRunner().invoke(cli, ["customer", "--key", str(key), "show"], env={}).output
    )
    public = read_wallet_public_key(key)
    assert shown == {
        "public_key": "0x" + public.to_raw().hex(),
        "fingerprint": "sm3:" + public.fingerprint().hex(),
        "keyid": customer_keyid(public),
    }


def test_grant_relay_list_and_revoke(
    found: ConsentServices, key: Path, attestation: str, tmp_path: Path
) -> None:
    url = found.members.services[1].url
    relayed = _ok(_run(*_grant_args(found, attestation, tmp_path), "--send", url, key=key))
    grant_id = relayed["grant_id"]
    record = found.registry.grant(bytes.fromhex(grant_id[2:]))
    assert record.grant.max_uses == 2 and record.grant.notice.sensitive is True
    assert record.signed_by(read_wallet_public_key(key))
    listed = _ok(_run("grants", "--url", url, "--attestation", attestation, key=key))["grants"]
    mine = next(g for g in listed if g["grant_id"] == grant_id)
    assert (mine["state"], mine["in_force"], mine["mode"]) == ("in-force", True, "standing")
    assert mine["revoked_at"] is None and mine["receipts"] == []

    # member A, the attester, records a use under the grant; the customer sees it at A's
    # service, and sees it anchored once A's anchoring loop has put it in a batch
    attester = found.members.services[0]
    used = found.record_use(record)
    at_a = ["grants", "--url", attester.url, "--attestation", attestation]
    deadline = time.monotonic() + 60
    while True:
        listed = _ok(_run(*at_a, key=key))["grants"]
        uses = next(g for g in listed if g["grant_id"] == grant_id)["receipts"]
        assert [u["receipt_id"] for u in uses] == [used.receipt_id]
        if uses[0]["status"] == "anchored":
            break
        assert time.monotonic() < deadline, uses
        time.sleep(0.3)
    assert uses[0]["fields"] == ["family_name"] and uses[0]["caller"] == record.grant.grantee
    assert uses[0]["transaction"].startswith("keccak256:")

    revoked = _ok(_run("revoke", grant_id, "--send", url, key=key))
    assert revoked["grant_id"] == grant_id and revoked["revocation_id"].startswith("0x")
    listed = _ok(_run("grants", "--url", url, "--attestation", attestation, key=key))["grants"]
    mine = next(g for g in listed if g["grant_id"] == grant_id)
    assert (mine["state"], mine["in_force"]) == ("revoked", False)
    assert mine["revoked_at"] is not None


def test_a_grant_and_a_use_signed_offline(
    found: ConsentServices, key: Path, attestation: str, tmp_path: Path
) -> None:
    chain_id, registry = str(found.registry.client.chain_id), found.registry.address
    domain = ["--chain-id", chain_id, "--registry", registry]
    out = tmp_path / "grant.json"
    args = [*_grant_args(found, attestation, tmp_path), "--per-use", *domain, "--out", str(out)]
    result = _run(*args, key=key)
    assert result.exit_code == 0, result.output
    signed = parse(out.read_bytes(), SignedGrant)
    assert result.output == f"{out}: grant 0x{signed.digest.hex()}\n"
    public = read_wallet_public_key(key)
    assert signs(public, signed.digest, signed.signature)
    assert signed.digest == found.registry.grant_digest(signed.grant)  # the contract's digest
    use_file = tmp_path / "use.json"
    grantee = found.members.deployed.members[1].address
    url = found.members.services[0].url
    use = ["authorize-use", "0x" + signed.digest.hex(), "--field", "id_number"]
    use += ["--purpose", "account-opening", "--grantee", grantee, "--url", url]
    assert _run(*use, "--out", str(use_file), key=key).exit_code == 0
    authorization = parse(use_file.read_bytes(), SignedUse)
    assert authorization.use.grant_id == signed.digest
    assert signs(public, found.registry.use_digest(authorization.use), authorization.signature)


def test_refusals_are_one_line(
    found: ConsentServices, key: Path, attestation: str, tmp_path: Path
) -> None:
    url = found.members.services[1].url
    unknown = "0x" + "42" * 32
    args = _grant_args(found, unknown, tmp_path)
    _refused(
        _run(*args, "--send", url, key=key),
        "POST /v1/consents: 409 state-conflict: IdentityAttestations reverted with"
        " IdentityAttestations__UnknownAttestation(",
    )
    result = CliRunner().invoke(
        cli,
        ["customer", "--key", str(key), "revoke", unknown, "--send", url],
        env={"LEDGER_KEY_PASSWORD": "wrong"},
    )
    _refused(result, f"{key}: wrong password, or the keystore was tampered with")
    _refused(_run("keygen", "--out", str(key)), f"{key} exists: a customer key is not replaced")
    _refused(
        _run("revoke", unknown, "--send", url, key=key),
        f"POST /v1/consents/{unknown}/revocations: 404 not-found: no grant {unknown}",
    )
    missing = tmp_path / "absent.txt"
    args = _grant_args(found, attestation, tmp_path)
    args[args.index("--notice") + 1] = str(missing)
    _refused(_run(*args, "--send", url, key=key), f"cannot read notice {missing}")
