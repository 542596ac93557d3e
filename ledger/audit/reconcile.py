"""Reconciling a period's access receipts against the chain, and members' reliances against the
receipts: pure logic, no I/O (:mod:`ledger.audit.chain` reads the chain, the service and the CLI
collect receipts and reliances).

Each receipt of the period gets one :class:`ReceiptRow`: the grant it names and that grant's
state at the receipt's ``used_at`` as every service judges it
(:meth:`ledger.member.consents.JudgedGrant.state_at`: signature, window, revocations, the
attestation),
whether it was *covered* (a grant in force then, for this grantee, attestation and attester),
its use number under the grant (by ``used_at``, then receipt ID, over every receipt known of the
grant, earlier periods included) and how far its anchoring got. Anomalies are typed
(:class:`AnomalyKind`); the scope and uses checks are the release rule's own
(:func:`ledger.consent.release.check_scope`, :func:`~ledger.consent.release.uses_left`).

A reliance (member B opened an account on a reused identity) names the receipt it relied on at
the attester's service; if that attester's receipts are part of the reconciliation
(``attesters``) and no such receipt exists, or it names another grant, attestation, member or
fewer fields, it is ``release-without-receipt``: fields were released that no receipt covers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from ledger import canonical
from ledger.audit.period import ANCHORING_GRACE, Period
from ledger.audit.records import (
    UNKNOWN,
    Anomaly,
    AnomalyKind,
    ChainGrant,
    ChainView,
    ReceiptRow,
    Reliance,
    RelianceCheck,
    RelianceRow,
    Report,
    SeenReceipt,
)
from ledger.consent import AccessReceipt
from ledger.consent.release import (
    FieldOutOfScope,
    NotGrantee,
    PurposeOutOfScope,
    check_parties,
    check_scope,
    uses_left,
)
from ledger.db.records import ReceiptStatus
from ledger.member.consents import GrantState, JudgedGrant

__all__ = ["reconcile"]

#: What a grant's state at a receipt's time is as an anomaly (in force: none).
_STATE_ANOMALY = {
    GrantState.INERT: AnomalyKind.NO_COVERING_GRANT,
    GrantState.REVOKED: AnomalyKind.AFTER_REVOCATION,
    GrantState.EXPIRED: AnomalyKind.OUTSIDE_WINDOW,
    GrantState.PENDING: AnomalyKind.OUTSIDE_WINDOW,
    GrantState.ATTESTATION_NOT_VALID: AnomalyKind.OUTSIDE_WINDOW,
}


def reconcile(
    receipts: Iterable[SeenReceipt],
    *,
    chain: ChainView,
    period: Period,
    now: datetime,
    reliances: Iterable[Reliance] = (),
    attesters: Iterable[str] = (),
    grace: timedelta = ANCHORING_GRACE,
) -> Report:
    """The report of ``period``: a row per receipt used in it, its reliances checked.

    ``receipts``: every receipt known of the period and, for use numbers, the earlier ones of
    the same grants (duplicates by receipt ID count once); ``attesters``: the member accounts
    whose receipts are all here, so a reliance naming one of them and no receipt is an anomaly
    (others are ``not-checked``); ``now``: when receipts still waiting for anchoring past
    ``grace`` are ``not-anchored``."""
    known: dict[str, SeenReceipt] = {}
    for seen in receipts:
        known.setdefault(seen.receipt.receipt_id, seen)
    by_grant: dict[bytes, list[SeenReceipt]] = defaultdict(list)
    for seen in known.values():
        by_grant[seen.receipt.grant_id].append(seen)
    use_of: dict[str, int] = {}
    for seens in by_grant.values():
        seens.sort(key=lambda s: (s.receipt.used_at, s.receipt.receipt_id))
        for number, seen in enumerate(seens, start=1):
            use_of[seen.receipt.receipt_id] = number
    checked = {a.lower() for a in attesters}
    reliance_rows = []
    relied: dict[str, list[str]] = defaultdict(list)
    for reliance in sorted(reliances, key=lambda r: (r.relied_at, r.agreement_id, r.receipt_id)):
        if not period.holds(reliance.relied_at):
            continue
        row = _check_reliance(reliance, known, checked)
        if row.check is RelianceCheck.MATCHED:
            relied[reliance.receipt_id].append(reliance.agreement_id)
        reliance_rows.append(row)
    in_period = sorted(
        (s for s in known.values() if period.holds(s.receipt.used_at)),
        key=lambda s: (s.receipt.used_at, s.receipt.receipt_id),
    )
    judged = {  # each grant's signatures checked once
        grant_id: JudgedGrant.of(grant.record, grant.attestation, list(grant.revocations))
        for grant_id, grant in chain.grants.items()
    }
    rows = tuple(
        _row(
            seen,
            use=use_of[seen.receipt.receipt_id],
            chain=chain,
            judged=judged,
            now=now,
            grace=grace,
            relied_by=tuple(relied.get(seen.receipt.receipt_id, ())),
        )
        for seen in in_period
    )
    return Report(
        period=period,
        chain_id=chain.chain_id,
        registry=chain.registry,
        generated_at=canonical.whole_seconds(now),
        rows=rows,
        reliances=tuple(reliance_rows),
    )


def _row(
    seen: SeenReceipt,
    *,
    use: int,
    chain: ChainView,
    judged: Mapping[bytes, JudgedGrant],
    now: datetime,
    grace: timedelta,
    relied_by: tuple[str, ...],
) -> ReceiptRow:
    receipt = seen.receipt
    found: list[tuple[AnomalyKind, str]] = []
    grant = _grant_of(receipt, chain)
    uncovered: str | None
    if isinstance(grant, str):
        state, max_uses, uncovered = UNKNOWN, None, grant
        found.append((AnomalyKind.NO_COVERING_GRANT, grant))
    else:
        max_uses = grant.record.grant.max_uses
        at = int(receipt.used_at.timestamp())
        grant_judged = judged[receipt.grant_id]
        judged_state = grant_judged.state_at(at)
        state = judged_state.value
        uncovered = _not_covering(receipt, grant)
        if uncovered is not None:  # another grantee's, attestation's or attester's grant
            found.append((AnomalyKind.NO_COVERING_GRANT, uncovered))
        else:
            uncovered = _state_reason(judged_state, grant_judged, at)
            if uncovered is not None:
                found.append((_STATE_ANOMALY[judged_state], uncovered))
            found.extend(_scope_and_uses(receipt, grant, use))
    if seen.anchoring is ReceiptStatus.ANCHORED and seen.proven is not True:
        found.append(
            (
                AnomalyKind.NOT_ANCHORED,
                "said anchored, but its inclusion proof does not lead from its leaf to its"
                " batch's root",
            )
        )
    elif seen.anchoring is not ReceiptStatus.ANCHORED and now - receipt.used_at >= grace:
        waited = int((now - receipt.used_at).total_seconds())
        found.append(
            (
                AnomalyKind.NOT_ANCHORED,
                f"still {seen.anchoring.value} {waited} s after its use (grace"
                f" {int(grace.total_seconds())} s)",
            )
        )
    anomalies = tuple(
        Anomaly(kind, detail, receipt.receipt_id, receipt.grant_id) for kind, detail in found
    )
    return ReceiptRow(
        seen=seen,
        use=use,
        max_uses=max_uses,
        state=state,
        covered=uncovered is None,
        reason=uncovered,
        anomalies=anomalies,
        relied_by=relied_by,
    )


def _scope_and_uses(
    receipt: AccessReceipt, grant: ChainGrant, use: int
) -> list[tuple[AnomalyKind, str]]:
    """The release rule's scope and uses checks, applied to a receipt and its use number."""
    found = []
    try:
        check_scope(
            receipt.fields, receipt.purpose, grant=grant.record, attestation=grant.attestation
        )
    except (FieldOutOfScope, PurposeOutOfScope) as refused:
        found.append((AnomalyKind.OUT_OF_SCOPE, str(refused)))
    max_uses = grant.record.grant.max_uses
    if not uses_left(max_uses, use - 1):
        found.append(
            (
                AnomalyKind.BEYOND_MAX_USES,
                f"use {use} of grant {_hex(receipt.grant_id)}, which allows {max_uses}",
            )
        )
    return found


def _grant_of(receipt: AccessReceipt, chain: ChainView) -> ChainGrant | str:
    """The chain's record of the receipt's grant, or why there is none."""
    if (receipt.chain_id, receipt.consent_registry.lower()) != (
        chain.chain_id,
        chain.registry.lower(),
    ):
        return (
            f"the receipt names chain {receipt.chain_id}, ConsentRegistry"
            f" {receipt.consent_registry}; the chain read is {chain.chain_id},"
            f" {chain.registry}"
        )
    grant = chain.grants.get(receipt.grant_id)
    if grant is None:
        why = chain.unknown.get(receipt.grant_id, "the chain has no record of it")
        return f"grant {_hex(receipt.grant_id)}: {why}"
    return grant


def _not_covering(receipt: AccessReceipt, grant: ChainGrant) -> str | None:
    """Why the grant does not cover this receipt's parties, if it does not."""
    try:
        check_parties(
            receipt.grant_id, receipt.caller, grant=grant.record, attestation=grant.attestation
        )
    except NotGrantee as refused:
        return str(refused)
    if receipt.attestation_id != grant.record.grant.attestation_id:
        return (
            f"the receipt names attestation {_hex(receipt.attestation_id)}; grant"
            f" {_hex(receipt.grant_id)} is for {_hex(grant.record.grant.attestation_id)}"
        )
    if receipt.mode is not grant.record.grant.mode:  # e.g. no per-use authorization
        return (
            f"the receipt is a {receipt.mode.label} use; grant {_hex(receipt.grant_id)} is"
            f" {grant.record.grant.mode.label}"
        )
    if receipt.attester.lower() != grant.attestation.attester.lower():
        return (
            f"released by {receipt.attester}; attestation {_hex(receipt.attestation_id)} is"
            f" {grant.attestation.attester}'s"
        )
    return None


def _state_reason(state: GrantState, grant: JudgedGrant, at: int) -> str | None:
    record, attestation = grant.record, grant.attestation
    used = _time(at)
    shown = _hex(record.grant_id)
    if state is GrantState.IN_FORCE:
        return None
    if state is GrantState.INERT:
        return (
            f"grant {shown} is inert: its signature does not verify under the attestation's"
            " customer key"
        )
    if state is GrantState.REVOKED:
        revoked = grant.revoked_by
        assert revoked is not None  # the state says so
        return f"used at {used}, after grant {shown} was revoked at {_time(revoked.at)}"
    if state is GrantState.EXPIRED:
        return f"used at {used}, after grant {shown} expired at {_time(record.grant.not_after)}"
    if state is GrantState.ATTESTATION_NOT_VALID:
        return (
            f"used at {used}, when attestation {_hex(attestation.attestation_id)} was not valid"
            f" (valid {_time(attestation.verified_at)} until {_time(attestation.ends_at)})"
        )
    return f"used at {used}, before grant {shown} began at {_time(record.starts_at)}"


def _check_reliance(
    reliance: Reliance, known: Mapping[str, SeenReceipt], checked: set[str]
) -> RelianceRow:
    if reliance.attester.lower() not in checked:
        return RelianceRow(reliance, RelianceCheck.NOT_CHECKED, None)
    seen = known.get(reliance.receipt_id)
    why: str | None
    if seen is None:
        why = (
            f"agreement {reliance.agreement_id} of {reliance.member} relied on receipt"
            f" {reliance.receipt_id!r}, which {reliance.attester}'s service did not record"
        )
    else:
        why = _mismatch(reliance, seen.receipt)
    if why is None:
        return RelianceRow(reliance, RelianceCheck.MATCHED, None)
    anomaly = Anomaly(
        AnomalyKind.RELEASE_WITHOUT_RECEIPT,
        why,
        reliance.receipt_id,
        reliance.grant_id,
        reliance.agreement_id,
    )
    return RelianceRow(reliance, RelianceCheck.UNMATCHED, anomaly)


def _mismatch(reliance: Reliance, receipt: AccessReceipt) -> str | None:
    differences = []
    if reliance.grant_id != receipt.grant_id:
        differences.append(f"grant {_hex(receipt.grant_id)}")
    if reliance.attestation_id != receipt.attestation_id:
        differences.append(f"attestation {_hex(receipt.attestation_id)}")
    if reliance.attester.lower() != receipt.attester.lower():
        differences.append(f"attester {receipt.attester}")
    if reliance.member.lower() != receipt.caller.lower():
        differences.append(f"member {receipt.caller}")
    beyond = sorted(set(reliance.fields) - set(receipt.fields))
    if beyond:
        differences.append(f"fields {list(receipt.fields)} (not {beyond})")
    if not differences:
        return None
    return (
        f"agreement {reliance.agreement_id} of {reliance.member} relied on receipt"
        f" {reliance.receipt_id}, which names " + ", ".join(differences)
    )


def _hex(data: bytes) -> str:
    return canonical.hex0x(data)


def _time(seconds: int) -> str:
    return canonical.timestamp(datetime.fromtimestamp(seconds, UTC))
