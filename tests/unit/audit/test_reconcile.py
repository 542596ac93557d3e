"""The reconciliation, anomaly kind by anomaly kind, with the exact rows and anomalies it reports
(records with real SM2 signatures over the contract's digests; see ``_records``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ledger import canonical
from ledger.audit.period import ANCHORING_GRACE, Period
from ledger.audit.reconcile import reconcile
from ledger.audit.records import (
    AnomalyKind,
    ChainView,
    RelianceCheck,
    Report,
    SeenReceipt,
    includes,
)
from ledger.audit.report import to_json
from ledger.chain.consent import GrantRecord, Mode
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db.records import ReceiptStatus
from tests.unit.audit._records import (
    ATTESTER,
    CHAIN,
    GRANTEE,
    NOW,
    OTHER,
    REGISTRY,
    at,
    attestation,
    grant,
    receipt,
    reliance,
    revocation,
    view,
)

PERIOD = Period(at(NOW - 3600), at(NOW + 3600))
LATER = at(NOW + 3600)  # when the report is made


def _report(
    seen: list[SeenReceipt], chain: ChainView, *, now: Any = LATER, **options: Any
) -> Report:
    return reconcile(seen, chain=chain, period=PERIOD, now=now, **options)


def _row(record: GrantRecord, seen: SeenReceipt, **changes: Any) -> dict[str, Any]:
    r = seen.receipt
    return {
        "receipt_id": r.receipt_id,
        "grant_id": canonical.hex0x(record.grant_id),
        "attestation_id": canonical.hex0x(r.attestation_id),
        "attester": r.attester,
        "grantee": r.caller,
        "fields": list(r.fields),
        "purpose": r.purpose,
        "used_at": canonical.timestamp(r.used_at),
        "mode": "standing",
        "use": 1,
        "max_uses": record.grant.max_uses,
        "grant_state": "in-force",
        "covered": True,
        "reason": None,
        "anchoring": "anchored",
        "transaction": "keccak256:" + "7e" * 32,
        "relied_by": [],
        "anomalies": [],
        **changes,
    }


def _anomalies(report: Report) -> list[tuple[str, str | None, str]]:
    return [(a.kind.value, a.receipt_id, a.detail) for a in report.anomalies]


def _time(seconds: int) -> str:
    return canonical.timestamp(at(seconds))


def test_a_use_inside_an_in_force_grant_is_covered() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    report = _report([seen], view(record))
    assert to_json(report)["receipts"] == [_row(record, seen)]
    assert report.anomalies == []
    assert to_json(report)["summary"] == {
        "receipts": 1,
        "covered": 1,
        "reliances": 0,
        "anomalies": 0,
        "by_kind": {kind.value: 0 for kind in AnomalyKind},
    }


def test_a_per_use_receipt_under_a_per_use_grant_is_covered() -> None:
    record = grant(mode=Mode.PER_USE)
    seen = receipt(record, NOW, number=1)
    report = _report([seen], view(record))
    assert to_json(report)["receipts"] == [_row(record, seen, mode="per-use")]


def test_a_grant_the_chain_does_not_hold_covers_nothing() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    chain = replace(view(), unknown={record.grant_id: "the ConsentRegistry holds no such grant"})
    report = _report([seen], chain)
    reason = f"grant {canonical.hex0x(record.grant_id)}: the ConsentRegistry holds no such grant"
    assert to_json(report)["receipts"] == [
        _row(
            record,
            seen,
            max_uses=None,
            grant_state="unknown",
            covered=False,
            reason=reason,
            anomalies=["no-covering-grant"],
        )
    ]
    assert _anomalies(report) == [("no-covering-grant", seen.receipt.receipt_id, reason)]


def test_an_inert_grant_covers_nothing() -> None:
    record = grant(key=SM2PrivateKey.generate())  # signed by a key the attestation does not bind
    seen = receipt(record, NOW, number=1)
    report = _report([seen], view(record))
    reason = (
        f"grant {canonical.hex0x(record.grant_id)} is inert: its signature does not verify"
        " under the attestation's customer key"
    )
    assert to_json(report)["receipts"] == [
        _row(
            record,
            seen,
            grant_state="inert",
            covered=False,
            reason=reason,
            anomalies=["no-covering-grant"],
        )
    ]
    assert _anomalies(report) == [("no-covering-grant", seen.receipt.receipt_id, reason)]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"caller": OTHER}, "grant {grant} is for {grantee}, not {other}"),
        (
            {"attestation_id": b"\x01" * 32},
            "the receipt names attestation 0x{ones}; grant {grant} is for 0x{attestation}",
        ),
        (
            {"attester": OTHER},
            "released by {other}; attestation 0x{attestation} is {attester}'s",
        ),
        (
            {"mode": Mode.PER_USE, "use_authorization": b"\x05" * 32},
            "the receipt is a per-use use; grant {grant} is standing",
        ),
        (
            {"chain_id": 5},
            "the receipt names chain 5, ConsentRegistry {registry}; the chain read is {chain},"
            " {registry}",
        ),
    ],
    ids=[
        "another-grantee",
        "another-attestation",
        "another-attester",
        "another-mode",
        "another-chain",
    ],
)
def test_a_grant_for_other_parties_covers_nothing(changes: dict[str, Any], reason: str) -> None:
    record = grant()
    seen = receipt(record, NOW, number=1, **changes)
    report = _report([seen], view(record))
    expected = reason.format(
        grant=canonical.hex0x(record.grant_id),
        grantee=GRANTEE,
        other=OTHER,
        ones="01" * 32,
        attestation="a7" * 32,
        attester=ATTESTER,
        registry=REGISTRY,
        chain=CHAIN,
    )
    row = to_json(report)["receipts"][0]
    assert (row["covered"], row["reason"], row["anomalies"]) == (
        False,
        expected,
        ["no-covering-grant"],
    )
    assert _anomalies(report) == [("no-covering-grant", seen.receipt.receipt_id, expected)]


def test_a_use_after_the_revocation_took_effect() -> None:
    record = grant()
    before, after = receipt(record, NOW - 1, number=1), receipt(record, NOW + 10, number=2)
    report = _report([after, before], view(record, revocations=(revocation(record, NOW),)))
    reason = (
        f"used at {_time(NOW + 10)}, after grant {canonical.hex0x(record.grant_id)} was revoked"
        f" at {_time(NOW)}"
    )
    assert to_json(report)["receipts"] == [
        _row(record, before),
        _row(
            record,
            after,
            use=2,
            grant_state="revoked",
            covered=False,
            reason=reason,
            anomalies=["after-revocation"],
        ),
    ]
    assert _anomalies(report) == [("after-revocation", after.receipt.receipt_id, reason)]


def test_a_revocation_by_another_key_revokes_nothing() -> None:
    record = grant()
    seen = receipt(record, NOW + 10, number=1)
    forged = revocation(record, NOW, key=SM2PrivateKey.generate())
    assert _report([seen], view(record, revocations=(forged,))).anomalies == []


@pytest.mark.parametrize(
    ("when", "state", "reason"),
    [
        (NOW - 60, "pending", "used at {used}, before grant {grant} began at {recorded}"),
        (NOW + 1000, "expired", "used at {used}, after grant {grant} expired at {used}"),
    ],
    ids=["before-recorded", "at-not-after"],
)
def test_a_use_outside_the_grants_window(when: int, state: str, reason: str) -> None:
    record = grant()
    seen = receipt(record, when, number=1)
    report = _report([seen], view(record))
    expected = reason.format(
        used=_time(when), grant=canonical.hex0x(record.grant_id), recorded=_time(NOW - 50)
    )
    assert to_json(report)["receipts"] == [
        _row(
            record,
            seen,
            grant_state=state,
            covered=False,
            reason=expected,
            anomalies=["outside-window"],
        )
    ]
    assert _anomalies(report) == [("outside-window", seen.receipt.receipt_id, expected)]


def test_a_use_when_the_attestation_was_not_valid() -> None:
    record = grant()
    seen = receipt(record, NOW + 10, number=1)
    ended = attestation(ended_at=NOW, revocation_reason=b"\x01" * 32)
    report = _report([seen], view(record, of=ended))
    reason = (
        f"used at {_time(NOW + 10)}, when attestation 0x{'a7' * 32} was not valid (valid"
        f" {_time(NOW - 1000)} until {_time(NOW)})"
    )
    row = to_json(report)["receipts"][0]
    assert (row["grant_state"], row["reason"], row["anomalies"]) == (
        "attestation-not-valid",
        reason,
        ["outside-window"],
    )


def test_the_use_beyond_max_uses_counts_earlier_periods() -> None:
    record = grant(max_uses=2)
    first = receipt(record, NOW - 90, number=1)  # before the grant was recorded: not the point
    earlier = [receipt(record, NOW - 40, number=2), receipt(record, NOW - 30, number=3)]
    seen = receipt(record, NOW, number=4)
    period = Period(at(NOW - 10), at(NOW + 10))  # the earlier uses are before it
    report = reconcile([seen, *earlier, first], chain=view(record), period=period, now=LATER)
    detail = f"use 4 of grant {canonical.hex0x(record.grant_id)}, which allows 2"
    assert to_json(report)["receipts"] == [_row(record, seen, use=4, anomalies=["beyond-max-uses"])]
    assert _anomalies(report) == [("beyond-max-uses", seen.receipt.receipt_id, detail)]


def test_the_uses_up_to_max_uses_are_fine_and_ties_go_by_receipt_id() -> None:
    record = grant(max_uses=2)
    same_second = [receipt(record, NOW, number=n) for n in (3, 1, 2)]
    report = _report(same_second, view(record))
    rows = to_json(report)["receipts"]
    assert [(r["receipt_id"][-1], r["use"], r["anomalies"]) for r in rows] == [
        ("1", 1, []),
        ("2", 2, []),
        ("3", 3, ["beyond-max-uses"]),
    ]


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        (
            {"fields": ("family_name", "id_number")},
            "field 'id_number' is not in the scope of grant {grant}",
        ),
        ({"purpose": "marketing"}, "purpose 'marketing' is not one grant {grant} allows"),
    ],
    ids=["field", "purpose"],
)
def test_a_use_out_of_scope(changes: dict[str, Any], detail: str) -> None:
    record = grant()
    seen = receipt(record, NOW, number=1, **changes)
    report = _report([seen], view(record))
    expected = detail.format(grant=canonical.hex0x(record.grant_id))
    row = to_json(report)["receipts"][0]
    assert (row["covered"], row["reason"], row["anomalies"]) == (True, None, ["out-of-scope"])
    assert _anomalies(report) == [("out-of-scope", seen.receipt.receipt_id, expected)]


@pytest.mark.parametrize("status", [ReceiptStatus.QUEUED, ReceiptStatus.BATCHED])
def test_a_receipt_not_anchored_after_the_grace_period(status: ReceiptStatus) -> None:
    record = grant()
    late = receipt(record, NOW, number=1, status=status)
    fresh = receipt(record, NOW + 100, number=2, status=status)
    now = at(NOW) + ANCHORING_GRACE
    report = _report([late, fresh], view(record), now=now)
    waited = int(ANCHORING_GRACE.total_seconds())
    rows = to_json(report)["receipts"]
    assert rows == [
        _row(record, late, anchoring=status.value, transaction=None, anomalies=["not-anchored"]),
        _row(record, fresh, use=2, anchoring=status.value, transaction=None),
    ]
    assert _anomalies(report) == [
        (
            "not-anchored",
            late.receipt.receipt_id,
            f"still {status.value} {waited} s after its use (grace {waited} s)",
        )
    ]
    assert _report([late], view(record), now=now - timedelta(seconds=1)).anomalies == []


def test_several_anomalies_of_one_receipt() -> None:
    record = grant(max_uses=1)
    first = receipt(record, NOW, number=1)
    seen = receipt(record, NOW + 2000, number=2, purpose="marketing", status=ReceiptStatus.QUEUED)
    report = _report([first, seen], view(record))
    assert to_json(report)["receipts"][1]["anomalies"] == [
        "outside-window",
        "out-of-scope",
        "beyond-max-uses",
        "not-anchored",
    ]


def test_only_the_periods_receipts_get_rows() -> None:
    record = grant()
    inside, outside = receipt(record, NOW, number=1), receipt(record, NOW + 3600, number=2)
    report = _report([outside, inside, inside], view(record))  # a duplicate counts once
    assert [row.receipt.receipt_id for row in report.rows] == [inside.receipt.receipt_id]
    assert report.period == PERIOD and report.generated_at == LATER
    assert (report.chain_id, report.registry) == (CHAIN, REGISTRY)


# -- reliances ----------------------------------------------------------------------------------


def test_a_reliance_on_a_recorded_receipt_matches() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1, fields=("family_name", "given_name"))
    relied = reliance(seen, agreement="agr_b1", fields=("given_name",))
    report = _report([seen], view(record), reliances=[relied], attesters=[ATTESTER.lower()])
    assert report.anomalies == []
    assert to_json(report)["receipts"] == [_row(record, seen, relied_by=["agr_b1"])]
    assert to_json(report)["reliances"] == [
        {
            "agreement_id": "agr_b1",
            "receipt_id": seen.receipt.receipt_id,
            "grant_id": canonical.hex0x(record.grant_id),
            "attestation_id": "0x" + "a7" * 32,
            "attester": ATTESTER,
            "member": GRANTEE,
            "fields": ["given_name"],
            "relied_at": _time(NOW + 60),
            "check": "matched",
        }
    ]


def test_a_release_forged_outside_the_service_has_no_receipt() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    forged = reliance(seen, agreement="agr_b2", receipt_id="rcpt_" + "f" * 32)
    report = _report([seen], view(record), reliances=[forged], attesters=[ATTESTER])
    detail = (
        f"agreement agr_b2 of {GRANTEE} relied on receipt 'rcpt_{'f' * 32}', which {ATTESTER}'s"
        " service did not record"
    )
    assert _anomalies(report) == [("release-without-receipt", "rcpt_" + "f" * 32, detail)]
    assert report.anomalies[0].agreement_id == "agr_b2"
    assert report.reliances[0].check is RelianceCheck.UNMATCHED
    assert to_json(report)["receipts"] == [_row(record, seen)]


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"grant_id": b"\x02" * 32}, "grant {grant}"),
        ({"member": OTHER}, "member {grantee}"),
        ({"fields": ("family_name", "id_number")}, "fields ['family_name'] (not ['id_number'])"),
    ],
    ids=["another-grant", "another-member", "more-fields"],
)
def test_a_reliance_on_a_receipt_for_something_else(changes: dict[str, Any], names: str) -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    relied = reliance(seen, **changes)
    report = _report([seen], view(record), reliances=[relied], attesters=[ATTESTER])
    expected = (
        f"agreement agr_1 of {relied.member} relied on receipt {seen.receipt.receipt_id}, which"
        " names " + names.format(grant=canonical.hex0x(record.grant_id), grantee=GRANTEE)
    )
    assert _anomalies(report) == [("release-without-receipt", seen.receipt.receipt_id, expected)]
    assert report.rows[0].relied_by == ()


def test_a_reliance_on_an_attester_not_reconciled_is_not_checked() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    forged = reliance(seen, receipt_id="rcpt_" + "f" * 32)
    report = _report([], view(record), reliances=[forged], attesters=[OTHER])
    assert report.anomalies == []
    assert [r.check for r in report.reliances] == [RelianceCheck.NOT_CHECKED]


def test_reliances_outside_the_period_are_left_out() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    late = reliance(seen, relied_at=PERIOD.end, receipt_id="rcpt_" + "f" * 32)
    assert _report([seen], view(record), reliances=[late], attesters=[ATTESTER]).reliances == ()


def test_a_receipt_said_anchored_whose_proof_does_not_verify() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    assert seen.proven is True
    elsewhere = includes(seen.receipt, index=0, tree_size=1, path=(), root=b"\0" * 32)
    report = _report([replace(seen, proven=elsewhere)], view(record))
    detail = (
        "said anchored, but its inclusion proof does not lead from its leaf to its batch's root"
    )
    assert _anomalies(report) == [("not-anchored", seen.receipt.receipt_id, detail)]
