"""Proofs of consent from running members' services (``python -m api`` on one anvil, one
ConsentRegistry, real SQLite): member A attested the customer, who granted member B (per use)
through B's service; A wrote access receipts under the grant into its database, its running
anchoring loop anchored them in a real ``anchorBatch``; the customer revoked through C's
service. The customer downloads the proof from A (``GET /v1/consents/{grant_id}/proof``, and
``ledger customer proof``), which verifies offline and against the chain (``ledger verify
--rpc``), with A's sealing key's registry entry; a file that disagrees with the chain is
refused by the confirmation; who may not read the grant gets 404, an inert grant 409."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger import canonical
from ledger._runtime import ISSUER_KEY_NAME, service_key
from ledger.chain.client import ChainClient
from ledger.chain.consent import GrantRecord, Mode
from ledger.cli import cli
from ledger.client import LedgerClient
from ledger.crypto import keystore
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import ConsentDomain, CustomerWallet, SignedGrant, to_bytes
from ledger.member import customer_keyid
from ledger.proof import (
    ProofInvalid,
    VerifiedConsentProof,
    confirm_on_chain,
    verify_file,
)
from ledger.settings import Settings
from tests._fixtures.consent_proofs import reseal_consent
from tests._fixtures.consent_services import ConsentServices, consent_services
from tests._fixtures.consortium import chain_time
from tests.integration.api._support import _problem

PASSWORD = "consent-proof-test-password"


@dataclass
class Story:
    found: ConsentServices
    rpc_url: str
    grant_id: str
    receipts: list[str]
    wallet: CustomerWallet
    issuer: SM2PrivateKey  # member A's service's issuer key (registered for proof sealing)

    def as_customer(self, service: int) -> LedgerClient:
        key = self.wallet.key
        url = self.found.members.services[service].url
        return LedgerClient(base_url=url, key=key, keyid=customer_keyid(key.public_key()))

    def download(self, service: int = 0) -> bytes:
        with self.as_customer(service) as customer:
            reply = customer.get(f"/v1/consents/{self.grant_id}/proof")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-disposition"] == (
            f'attachment; filename="consent-{self.grant_id}.proof.json"'
        )
        return reply.content


def _ok(reply: Any, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def _record_use(found: ConsentServices, record: GrantRecord, *, number: int) -> str:
    return found.record_use(record, request=b"release request %d" % number).receipt_id


def _grant(
    found: ConsentServices, wallet: CustomerWallet, attestation_id: bytes, **changes: Any
) -> tuple[ConsentDomain, SignedGrant]:
    domain = ConsentDomain(chain_id=found.registry.client.chain_id, registry=found.registry.address)
    now = chain_time(found.registry.client)
    options: dict[str, Any] = {
        "grantee": found.members.deployed.members[1].address,
        "attestation_id": attestation_id,
        "fields": ["family_name", "given_name"],
        "purposes": ["account-opening"],
        "method": "verify-and-store",
        "not_before": now,
        "not_after": now + 30 * 24 * 3600,
        "notice_text": "向 Beta Brokerage 提供您的身份信息用于开户",
        "recipient_name": "Beta Brokerage",
        "recipient_contact": "privacy@beta.example",
        "categories": ["identity"],
        "sensitive": True,
        "language": "zh-CN",
        "max_uses": 5,
        "mode": Mode.PER_USE,
        **changes,
    }
    return domain, wallet.grant(domain, **options)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, own_chain_url: str) -> Iterator[Story]:
    with consent_services(own_chain_url, tmp_path_factory.mktemp("consent-proofs")) as found:
        members = found.members
        a = members.deployed.members[0]
        issuer = service_key(Settings(data_dir=members.services[0].data_dir), ISSUER_KEY_NAME)
        a.keys.register("proof-sealing", issuer.public_key())
        attestation_id = found.attest(members.customer)
        wallet = CustomerWallet(key=members.customer)
        domain, signed = _grant(found, wallet, attestation_id)
        grant_id = canonical.hex0x(signed.digest)
        with members.as_member(1) as b:  # relayed by the grantee's service
            _ok(b.post("/v1/consents", json=json.loads(to_bytes(signed))), 201)
        record = found.registry.grant(signed.digest)
        receipts = [_record_use(found, record, number=n) for n in (1, 2)]
        story = Story(found, own_chain_url, grant_id, receipts, wallet, issuer)
        deadline = time.monotonic() + 60
        while True:  # A's anchoring loop puts both in a batch and anchors it
            with story.as_customer(0) as customer:
                listed = _ok(customer.get(f"/v1/consents/{grant_id}/receipts"), 200)
            if all(r["status"] == "anchored" for r in listed["receipts"]):
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.3)
        revocation = wallet.revoke(domain, signed.digest)
        with members.as_member(2) as c:  # relayed by the auditor's service
            path = f"/v1/consents/{grant_id}/revocations"
            _ok(c.post(path, json=json.loads(to_bytes(revocation))), 201)
        yield story


def test_the_customer_downloads_a_proof_that_verifies_offline_and_on_chain(story: Story) -> None:
    data = story.download()
    proof = verify_file(data, trusted_issuers={story.issuer.public_key().fingerprint()})
    assert isinstance(proof, VerifiedConsentProof)
    assert canonical.hex0x(proof.record.grant_id) == story.grant_id
    assert set(story.receipts) == {r.receipt.receipt_id for r in proof.receipts}
    assert proof.pending == ()
    assert [verifies for _, verifies in proof.revocations] == [True]
    assert proof.revoked_at is not None
    assert proof.keys is not None
    assert proof.keys.entries[0].member == story.found.members.deployed.members[0].address
    assert {r.writer for r in proof.receipts} == {proof.keys.entries[0].member}
    confirm_on_chain(proof, client=ChainClient(rpc_url=story.rpc_url))


def test_ledger_verify_confirms_it_on_chain(story: Story, tmp_path: Path) -> None:
    path = tmp_path / "consent.proof.json"
    path.write_bytes(story.download())
    done = CliRunner().invoke(cli, ["verify", str(path), "--rpc", story.rpc_url])
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"valid (confirmed on chain): consent {story.grant_id} of")
    assert ", revoked at " in done.output and "2 use(s) proven anchored" in done.output


def _proof_args(key_file: Path, grant_id: str, url: str) -> list[str]:
    return ["customer", "--key", str(key_file), "proof", grant_id, "--service", url]


def test_ledger_customer_proof_downloads_it(story: Story, tmp_path: Path) -> None:
    key_file = tmp_path / "me.key.json"
    key_file.write_bytes(keystore.encrypt_key(story.wallet.key, PASSWORD.encode(), scrypt_n=2**10))
    out = tmp_path / "mine.proof.json"
    url = story.found.members.services[0].url
    done = CliRunner().invoke(
        cli,
        [*_proof_args(key_file, story.grant_id, url), "--out", str(out)],
        env={"LEDGER_KEY_PASSWORD": PASSWORD},
    )
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"{out}: proof of consent {story.grant_id}, 2 use(s) proven,")
    assert isinstance(verify_file(out.read_bytes()), VerifiedConsentProof)
    missing = "0x" + "42" * 32
    done = CliRunner().invoke(
        cli,
        [*_proof_args(key_file, missing, url), "--out", str(tmp_path / "none.json")],
        env={"LEDGER_KEY_PASSWORD": PASSWORD},
    )
    assert done.exit_code == 2
    assert done.output == (
        f"error: GET /v1/consents/{missing}/proof: 404 not-found: no grant {missing}\n"
    )
    assert not (tmp_path / "none.json").exists()


def _resealed(story: Story, edit: Any) -> VerifiedConsentProof:
    """The downloaded proof edited and sealed again by another key (its ``keys`` dropped): it
    verifies offline, so only the chain can refuse it."""
    forger = SM2PrivateKey.generate()

    def change(body: dict[str, Any]) -> None:
        body.pop("keys")
        edit(body)

    proof = verify_file(reseal_consent(story.download(), change, forger))
    assert isinstance(proof, VerifiedConsentProof)
    return proof


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda p: p["recorded"].update(recorded_at=p["recorded"]["recorded_at"] - 1),
            r"^grant 0x[0-9a-f]{64} is recorded otherwise than the proof states$",
        ),
        (
            lambda p: p.update(revocations=[]),
            r"^the revocations of grant 0x[0-9a-f]{64} on chain differ from the proof's$",
        ),
        (
            lambda p: p["attestation"].update(expires_at=p["attestation"]["expires_at"] + 1),
            r"^attestation 0x[0-9a-f]{64} on chain differs from the proof's$",
        ),
    ],
    ids=["recorded-at", "revocation-left-out", "attestation-expiry"],
)
def test_a_proof_the_chain_contradicts_is_refused(story: Story, edit: Any, message: str) -> None:
    proof = _resealed(story, edit)
    with pytest.raises(ProofInvalid, match=message):
        confirm_on_chain(proof, client=ChainClient(rpc_url=story.rpc_url))


def test_a_batch_the_chain_does_not_hold_is_refused(story: Story) -> None:
    """The batch stated in another block than the one it was anchored in: consistent offline
    (the block is bound by the seal only), so only the chain can refuse it."""

    def elsewhere(body: dict[str, Any]) -> None:
        for part in body["receipts"]:  # both receipts are in one batch
            part["anchor"]["block"]["number"] = 1

    proof = _resealed(story, elsewhere)
    with pytest.raises(ProofInvalid, match=r"^the batch on chain differs from the proof$"):
        confirm_on_chain(proof, client=ChainClient(rpc_url=story.rpc_url))


def test_who_may_not_read_the_grant_gets_404_and_an_inert_grant_409(story: Story) -> None:
    found = story.found
    attestation_id = found.attest(story.wallet.key)
    _, to_a = _grant(
        found, story.wallet, attestation_id, grantee=found.members.deployed.members[0].address
    )
    with found.members.as_member(0) as a:
        _ok(a.post("/v1/consents", json=json.loads(to_bytes(to_a))), 201)
    grant_id = canonical.hex0x(to_a.digest)
    with found.members.as_member(1) as b:  # neither grantee nor attester
        hidden = _problem(b.get(f"/v1/consents/{grant_id}/proof"), 404, "not-found")
    assert hidden["detail"] == f"no grant {grant_id}"
    _, inert = _grant(found, story.wallet, attestation_id)
    found.registry.record_grant(inert.grant, b"\x30\x06\x02\x01\x01\x02\x01\x01")  # directly
    inert_id = canonical.hex0x(inert.digest)
    with story.as_customer(0) as customer:
        refused = _problem(
            customer.get(f"/v1/consents/{inert_id}/proof"), 409, "consent-proof-refused"
        )
    assert refused["detail"] == (
        f"no proof of grant {inert_id} can be issued: the grant's signature does not verify"
        " under the key the attestation binds: the grant is inert"
    )


def test_a_receipt_just_written_is_proven_or_pending(story: Story) -> None:
    record = story.found.registry.grant(canonical.unhex0x(story.grant_id))
    fresh = _record_use(story.found, record, number=3)
    proof = verify_file(story.download())
    assert isinstance(proof, VerifiedConsentProof)
    proven = {r.receipt.receipt_id for r in proof.receipts}
    assert fresh in proven | set(proof.pending)
    assert proven | set(proof.pending) == {*story.receipts, fresh}


def test_a_proof_of_contracts_the_chain_does_not_hold_is_refused(story: Story) -> None:
    """The golden file names made-up contracts on this chain ID: no ConsentRegistry of this
    build is there, so nothing it states is confirmed."""
    golden = Path(__file__).resolve().parents[2] / "assets" / "consent-proof-v1.json"
    proof = verify_file(golden.read_bytes())
    with pytest.raises(
        ProofInvalid, match=r"^no ConsentRegistry of this build at 0xC0C0c0c0C0C0c0c0c0C0"
    ):
        confirm_on_chain(proof, client=ChainClient(rpc_url=story.rpc_url))
