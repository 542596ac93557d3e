"""Wiring from settings: prepare once, then service processes on one data dir."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.agreement import Document, new_agreement_id
from ledger.chain.deployments import Deployments
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.service import prepare, running_service
from ledger.service.errors import SigningTimeRejected
from ledger.settings import Settings
from ledger.signature import sign_version
from tests._fixtures.paths import ROOT


def test_prepare_is_idempotent_and_two_services_share_one_data_dir(
    tmp_path: Path, anvil_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path, chain_rpc_url=anvil_url, chain_private_key=DEV_PRIVATE_KEY
    )
    prepare(settings)
    recorded = Deployments(directory=settings.deployments_dir)
    consent = [recorded.get(31337, n) for n in ("IdentityAttestations", "ConsentRegistry")]
    assert None not in consent  # deployed once here, not by each service on first use
    prepare(settings)
    assert [recorded.get(31337, n) for n in ("IdentityAttestations", "ConsentRegistry")] == consent
    with running_service(settings) as first, running_service(settings) as second:
        assert first.evidence.domain == second.evidence.domain  # one deployment
        assert first.evidence.issuer_fingerprint == second.evidence.issuer_fingerprint
        assert first.health().status == "ok"
        assert first.consents.domain() == second.consents.domain()  # one consent registry
        assert first.consents.domain().registry == consent[1].address  # type: ignore[union-attr]


def test_bench_evidence_runs_end_to_end_and_reports_every_key(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ledger.cli", "bench", "evidence", "--json"),
            *("--seconds", "0.5", "--processes", "2", "--workers", "3", "--http"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    for key in (
        "acks_per_s",
        "ack_p99_ms",
        "inclusion_p99_ms",
        "gas_per_agreement",
        "proof_bytes",
        "openssl_sm2_sign_per_s",
    ):
        assert result[key] is not None, key
    assert result["acknowledged"] == result["anchored"]  # every one anchored
    assert set(result["gas_per_agreement"]) == {"1", "100", "1000", "10000"}
    assert result["gas_per_agreement"]["1000"] <= 250
    sizes = [result["proof_bytes"][k] for k in ("1", "100", "1000", "10000")]
    assert sizes == sorted(sizes)
    # the same work over HTTP, with as many requests in flight as the in-process run had
    over_http = result["http"]
    assert over_http["acknowledged"] > 0 and over_http["acks_per_s"] > 0
    assert over_http["server_workers"] == 2
    assert over_http["client_processes"] * over_http["client_threads"] == 2 * 3
    assert over_http["of_in_process"] > 0 and over_http["cpu_ms_per_agreement"] > 0


def test_the_signing_window_comes_from_the_settings(tmp_path: Path, anvil_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path,
        chain_rpc_url=anvil_url,
        chain_private_key=DEV_PRIVATE_KEY,
        signing_max_age_s=60,
        signing_max_skew_s=0,
    )
    keys = {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}
    document = Document(b"window from the settings")
    with running_service(settings) as service:
        evidence = service.evidence
        for offset, side in ((-120, "60 s before"), (30, "0 s after")):
            agreement_id = new_agreement_id()
            signatures = sign_version(
                keys,
                domain=evidence.domain,
                agreement_id=agreement_id,
                version=1,
                document_sm3=document.sm3,
                signed_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=offset),
            )
            with pytest.raises(SigningTimeRejected, match=f"more than {side} "):
                evidence.submit(document, signatures=signatures, agreement_id=agreement_id)


def test_bench_reuse_runs_end_to_end_and_reports_every_phase() -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ledger.cli", "bench", "reuse", "--json"),
            *("--seconds", "1", "--rate", "10", "--workers", "1", "--clients", "1"),
            *("--connections", "4"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    phases = [f"{m}_{p}" for m in ("standing", "per-use") for p in ("closed", "open", "open_80")]
    for phase in phases:
        served = result[phase]
        assert served["unexpected"] == [], (phase, served)
        assert served["served"] > 0 and served["p99_ms"] is not None, (phase, served)
        assert set(served["statuses"]) == {"201"}, (phase, served)
    assert set(result["reference_read_open"]["statuses"]) == {"200"}
    assert set(result["gas"]) == {
        "attestation (8 fields)",
        "grant (recordGrant, relayed)",
        "grant revocation",
    }
    assert 0 < result["gas_per_receipt"] < result["gas"]["grant revocation"]
    # every release the phases got is a receipt, and every receipt was anchored
    assert result["receipts_anchored"] == sum(result[p]["served"] for p in phases)
