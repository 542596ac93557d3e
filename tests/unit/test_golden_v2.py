"""The committed ``ledger-proof/2`` golden file (tests/assets/proof-v2.json) states exactly the
registry entries it was made with (tests/assets/make_golden.py), and ``ledger verify`` says which
key checks ran. Byte changes, base64 spellings and the CLI over every golden proof:
tests/unit/test_golden.py."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from ledger import canonical
from ledger.chain.keys import key_id_of
from ledger.proof import FORMAT_V2, ClaimedKey, KeyClaims, verify_proof
from tests.unit.test_golden import ASSETS, DOMAIN, ISSUER, asset, key

REGISTRY = to_checksum_address("0x" + "4b" * 20)
DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first account
BROKER_MEMBER = to_checksum_address("0x" + "b0" * 20)
REGISTERED_AT = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
SEALED_AT = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
BROKER_SIGNED_AT = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)


def test_the_v2_proof_states_its_registry_entries() -> None:
    verified = verify_proof(asset("proof-v2.json"), trusted_issuers={ISSUER})
    broker = key("broker").public_key().fingerprint()
    assert verified.format == FORMAT_V2
    assert (verified.chain_id, verified.contract, verified.writer) == (
        DOMAIN.chain_id,
        DOMAIN.contract,
        DEV_ACCOUNT,
    )
    assert verified.keys == KeyClaims(
        chain_id=31337,
        registry=REGISTRY,
        sealed_at=SEALED_AT,
        entries=(
            ClaimedKey(
                signer="seal",
                key_id=key_id_of(
                    chain_id=31337,
                    contract=REGISTRY,
                    member=DEV_ACCOUNT,
                    purpose="proof-sealing",
                    fingerprint=ISSUER,
                ),
                member=DEV_ACCOUNT,
                purpose="proof-sealing",
                fingerprint=ISSUER,
                not_before=REGISTERED_AT,
                not_after=int(datetime(2027, 11, 1, tzinfo=UTC).timestamp()),
                revoked_at=int(datetime(2026, 11, 23, tzinfo=UTC).timestamp()),
                registered_at=REGISTERED_AT,
                used_at=SEALED_AT,
            ),
            ClaimedKey(
                signer="broker",
                key_id=key_id_of(
                    chain_id=31337,
                    contract=REGISTRY,
                    member=BROKER_MEMBER,
                    purpose="request-signing",
                    fingerprint=broker,
                ),
                member=BROKER_MEMBER,
                purpose="request-signing",
                fingerprint=broker,
                not_before=REGISTERED_AT,
                not_after=None,
                revoked_at=None,
                registered_at=REGISTERED_AT,
                used_at=BROKER_SIGNED_AT,
            ),
        ),
    )


def _verify(name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", str(ASSETS / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_ledger_verify_says_which_key_checks_ran() -> None:
    broker = canonical.label("sm3", key("broker").public_key().fingerprint())
    assert _verify("proof-v2.json").endswith(
        f"; keys in registry {REGISTRY}: seal key {canonical.label('sm3', ISSUER)} of"
        f" {DEV_ACCOUNT} valid at 2026-11-22T11:00:00Z, broker's key {broker} of"
        f" {BROKER_MEMBER} valid at 2026-11-22T10:00:01Z"
    )
    for older in ("proof-v0.json", "proof-v1-redacted.json"):
        expected = "ledger-proof/0" if older == "proof-v0.json" else "ledger-proof/1"
        assert _verify(older).endswith(f"; no key checks ({expected} names no registry entries)")
