"""The customer's signed consent documents: what the wallet signs verifies as the contract's
digest under the customer's key (``ledger.chain.consent.signs``), each document round-trips
through its JSON, and a malformed one is refused with a DocumentError naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.chain._binding import name_id
from ledger.chain.consent import Mode, grant_digest, revocation_digest, signs, use_digest
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.customer import (
    ConsentDomain,
    CustomerWallet,
    DocumentError,
    SignedGrant,
    SignedRevocation,
    SignedUse,
    WalletError,
    parse,
    read_wallet_public_key,
    to_bytes,
)

DOMAIN = ConsentDomain(chain_id=31337, registry="0x5FbDB2315678afecb367f032d93F642f64180aa3")
GRANTEE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NOTICE = "向 Beta Brokerage 提供您的身份信息用于开户"


def sample_grant(wallet: CustomerWallet, **changes: Any) -> SignedGrant:
    options: dict[str, Any] = {
        "grantee": GRANTEE,
        "attestation_id": b"\x11" * 32,
        "fields": ["family_name", "id_number"],
        "purposes": ["account-opening"],
        "method": "verify-and-store",
        "not_before": 1_800_000_000,
        "not_after": 1_802_592_000,
        "notice_text": NOTICE,
        "recipient_name": "Beta Brokerage Co., Ltd.",
        "recipient_contact": "privacy@beta.example",
        "categories": ["identity"],
        "sensitive": True,
        "language": "zh-CN",
        "max_uses": 3,
        "mode": Mode.PER_USE,
        **changes,
    }
    return wallet.grant(DOMAIN, **options)


@pytest.fixture
def wallet() -> CustomerWallet:
    return CustomerWallet(key=SM2PrivateKey.generate())


def test_a_grant_is_signed_over_the_contracts_digest(wallet: CustomerWallet) -> None:
    signed = sample_grant(wallet)
    digest = grant_digest(signed.grant, chain_id=DOMAIN.chain_id, contract=DOMAIN.registry)
    assert signed.digest == digest
    assert signs(wallet.public_key, digest, signed.signature)
    assert not signs(SM2PrivateKey.generate().public_key(), digest, signed.signature)
    grant = signed.grant
    assert grant.fields == (name_id("family_name"), name_id("id_number"))
    assert grant.purposes == (name_id("account-opening"),)
    assert grant.processing_method == name_id("verify-and-store")
    assert grant.notice.notice_digest == sm3(NOTICE.encode())
    assert grant.notice.data_categories == (name_id("identity"),)
    assert grant.notice.separate_consent is True
    assert (grant.mode, grant.max_uses, grant.grantee) == (Mode.PER_USE, 3, GRANTEE)


def test_each_grant_gets_a_fresh_nonce(wallet: CustomerWallet) -> None:
    first, second = sample_grant(wallet), sample_grant(wallet)
    assert first.grant.nonce != second.grant.nonce and len(first.grant.nonce) == 32
    assert first.digest != second.digest


def test_a_revocation_and_a_use_are_signed_over_their_digests(wallet: CustomerWallet) -> None:
    grant_id = sample_grant(wallet).digest
    revocation = wallet.revoke(DOMAIN, grant_id)
    assert revocation.revocation.grant_id == grant_id
    expected = revocation_digest(revocation.revocation, chain_id=31337, contract=DOMAIN.registry)
    assert signs(wallet.public_key, expected, revocation.signature)
    use = wallet.authorize_use(
        DOMAIN, grant_id=grant_id, grantee=GRANTEE, fields=["id_number"], purpose="account-opening"
    )
    expected = use_digest(use.use, chain_id=31337, contract=DOMAIN.registry)
    assert signs(wallet.public_key, expected, use.signature)
    assert use.use.fields == (name_id("id_number"),)


def test_the_use_carries_the_time_of_the_wallets_clock() -> None:
    from datetime import UTC, datetime

    moment = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    wallet = CustomerWallet(key=SM2PrivateKey.generate(), clock=lambda: moment)
    use = wallet.authorize_use(
        DOMAIN, grant_id=b"\x01" * 32, grantee=GRANTEE, fields=["phone"], purpose="p"
    )
    assert use.use.requested_at == int(moment.timestamp())
    assert parse(to_bytes(use), SignedUse).to_json()["use"]["requested_at"] == (
        "2027-01-02T03:04:05Z"
    )


def test_documents_round_trip(wallet: CustomerWallet) -> None:
    grant = sample_grant(wallet)
    revocation = wallet.revoke(DOMAIN, grant.digest)
    assert parse(to_bytes(grant), SignedGrant) == grant
    assert parse(json.loads(to_bytes(grant)), SignedGrant) == grant
    assert parse(to_bytes(revocation), SignedRevocation) == revocation
    body = json.loads(to_bytes(grant))
    assert body["type"] == "consent-grant" and body["version"] == 1
    assert body["grant"]["notice"]["notice_digest"] == "sm3:" + sm3(NOTICE.encode()).hex()
    assert body["grant"]["mode"] == "per-use"
    assert body["grant"]["not_before"] == "2027-01-15T08:00:00Z"
    assert body["domain"] == {"chain_id": 31337, "registry": DOMAIN.registry}


def _broken(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("type", "consent-use", r"^type: expected 'consent-grant', got 'consent-use'$"),
        ("version", 2, r"^version: expected 1, got 2$"),
        ("version", True, r"^version: expected 1, got True$"),
        ("signature", "not base64!", r"^signature: invalid base64"),
        ("signature", "", r"^signature: 1 to 128 bytes of DER$"),
        ("extra", 1, r"^document: unexpected \['extra'\]$"),
        ("grant.notice", _DELETE, r"^grant: missing \['notice'\]$"),
        ("grant.grantee", GRANTEE.lower(), r"^grant.grantee: a checksummed account"),
        ("grant.attestation_id", "0x11", r"^grant.attestation_id: expected 32 bytes of hex"),
        ("grant.fields", "0x11", r"^grant.fields: a list$"),
        ("grant.fields", ["0xAB" + "0" * 62], r"^grant.fields\[0\]: expected 0x-prefixed"),
        ("grant.max_uses", -1, r"^grant.max_uses: an integer from 0 to 4294967295$"),
        ("grant.max_uses", 1.0, r"^grant.max_uses: an integer"),
        ("grant.mode", "always", r"^grant.mode: one of \['per-use', 'standing'\], not 'always'$"),
        ("grant.not_after", 1802592000, r"^grant.not_after: a string$"),
        ("grant.not_after", "2027-01-15 08:00:00", r"^grant.not_after: expected a UTC time"),
        ("grant.notice.sensitive", 1, r"^grant.notice.sensitive: true or false$"),
        ("grant.notice.notice_digest", "0x" + "00" * 32, r"^grant.notice.notice_digest: expected"),
        ("grant.notice.language", None, r"^grant.notice.language: a string$"),
        ("domain.chain_id", 0, r"^domain.chain_id: an integer from 1"),
        ("domain.registry", "nowhere", r"^domain.registry: a checksummed account"),
    ],
)
def test_a_malformed_grant_is_refused_naming_the_field(
    wallet: CustomerWallet, path: str, value: Any, message: str
) -> None:
    document = _broken(json.loads(to_bytes(sample_grant(wallet))), path, value)
    with pytest.raises(DocumentError, match=message):
        parse(document, SignedGrant)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", r"^not a JSON document: "),
        (b"[]", r"^a consent document is a JSON object$"),
        (b" " * (64 * 1024 + 1), r"^a consent document is at most 65536 bytes$"),
    ],
)
def test_what_is_not_a_document_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        parse(data, SignedGrant)


def test_the_keystore_file(tmp_path: Path) -> None:
    path = tmp_path / "me.json"
    made = CustomerWallet.create(path, b"secret", scrypt_n=2)
    assert path.stat().st_mode & 0o777 == 0o600
    assert CustomerWallet.open(path, b"secret").public_key == made.public_key
    assert read_wallet_public_key(path) == made.public_key
    assert made.keyid == "sm2:" + made.public_key.to_raw().hex()
    with pytest.raises(WalletError, match=r"me.json: wrong password"):
        CustomerWallet.open(path, b"wrong")
    with pytest.raises(WalletError, match=r"me.json exists: a customer key is not replaced"):
        CustomerWallet.create(path, b"secret", scrypt_n=2)
    with pytest.raises(WalletError, match=r"cannot read .*absent.json"):
        CustomerWallet.open(tmp_path / "absent.json", b"secret")
