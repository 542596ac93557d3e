"""The agreement's rules (ledger.agreement._rules), each with its exact refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import pytest

from ledger.agreement import (
    MAX_DOCUMENT_BYTES,
    MAX_MEDIA_TYPE_CHARS,
    MAX_REASON_CHARS,
    MAX_SIGNERS,
    REQUIRED_ROLES,
    VERSION_KINDS,
    VERSION_STATUSES,
    VOID_MEDIA_TYPE,
    Agreement,
    AgreementError,
    AgreementState,
    AgreementVersion,
    Document,
    SigningTimeOutOfWindow,
    SigningWindow,
    VersionKind,
    VersionStatus,
    check_document,
    check_required_roles,
    next_version,
    signature_set_refusal,
    signer_refusal,
    version_refusal,
    void_notice,
)

AGR = "agr_" + "ab" * 16
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


class Latest(NamedTuple):
    version: int
    kind: str
    status: str


def test_limits() -> None:
    assert REQUIRED_ROLES == ("customer", "broker")
    assert MAX_SIGNERS == 16  # EvidenceLedger.sol's MAX_SIGNERS
    assert MAX_DOCUMENT_BYTES == 16 * 1024 * 1024
    assert (MAX_MEDIA_TYPE_CHARS, MAX_REASON_CHARS) == (200, 2000)
    assert VERSION_KINDS == ("agreement", "void")
    assert VERSION_STATUSES == ("draft", "accepted", "anchored")


# -- required roles --------------------------------------------------------------------------


def test_required_roles_are_sorted() -> None:
    assert check_required_roles(["customer", "broker", "witness"]) == (
        "broker",
        "customer",
        "witness",
    )


def test_required_roles_up_to_the_cap() -> None:
    roles = ["customer", "broker", *(f"r{i}" for i in range(MAX_SIGNERS - 2))]
    assert len(check_required_roles(roles)) == MAX_SIGNERS
    with pytest.raises(AgreementError, match=r"^at most 16 signing roles, got 17$"):
        check_required_roles([*roles, "one_more"])


def test_required_roles_repeat() -> None:
    with pytest.raises(
        AgreementError, match=r"^required roles repeat: \['customer', 'broker', 'broker'\]$"
    ):
        check_required_roles(["customer", "broker", "broker"])


def test_required_roles_must_include_customer_and_broker() -> None:
    with pytest.raises(
        AgreementError,
        match=r"^every agreement is signed by \['customer', 'broker'\]; missing \['broker'\]$",
    ):
        check_required_roles(["customer", "witness"])


def test_required_roles_are_well_formed() -> None:
    with pytest.raises(AgreementError, match="a role is 1-32 of"):
        check_required_roles(["customer", "broker", "Witness"])


# -- documents and void notices --------------------------------------------------------------


def test_document_size_bound() -> None:
    at_limit = Document(bytes(MAX_DOCUMENT_BYTES))
    assert check_document(at_limit) is at_limit
    with pytest.raises(AgreementError, match=r"^documents are at most 16777216 bytes$"):
        check_document(Document(bytes(MAX_DOCUMENT_BYTES + 1)))


@pytest.mark.parametrize("media_type", ["", "x" * (MAX_MEDIA_TYPE_CHARS + 1), "text/plain\n"])
def test_document_media_type_bound(media_type: str) -> None:
    with pytest.raises(AgreementError, match=r"^media type must be 1-200 printable characters$"):
        check_document(Document(b"x", media_type=media_type))


@pytest.mark.parametrize("length", [1, MAX_MEDIA_TYPE_CHARS])
def test_document_media_type_at_limit(length: int) -> None:
    document = Document(b"x", media_type="x" * length)
    assert check_document(document) is document


def test_void_notice() -> None:
    notice = void_notice(AGR, voids_version=2, reason="closed")
    assert notice.media_type == VOID_MEDIA_TYPE
    assert notice.content == (
        b'{"agreement_id":"' + AGR.encode() + b'","reason":"closed",'
        b'"type":"ledger/void-notice","voids_version":2}'
    )
    void_notice(AGR, voids_version=2, reason="x" * MAX_REASON_CHARS)


@pytest.mark.parametrize("reason", ["", "   ", "x" * (MAX_REASON_CHARS + 1)])
def test_void_notice_needs_a_reason(reason: str) -> None:
    with pytest.raises(AgreementError, match=r"^a void needs a reason of 1-2000 characters$"):
        void_notice(AGR, voids_version=2, reason=reason)


# -- the next version ------------------------------------------------------------------------


def test_next_version() -> None:
    assert next_version(None) == 1
    assert next_version(Latest(4, "agreement", "anchored")) == 5


def test_version_one_starts_an_agreement() -> None:
    assert version_refusal(AGR, 1, VersionKind.AGREEMENT, None) is None
    assert version_refusal(AGR, 2, VersionKind.AGREEMENT, None) == (
        f"{AGR}: the next version is 1, not 2"
    )


def test_a_void_is_never_version_one() -> None:
    assert version_refusal(AGR, 1, VersionKind.VOID, None) == (
        f"{AGR}: nothing to void, the agreement has no version"
    )


@pytest.mark.parametrize("status", ["draft", "accepted", "anchored"])
def test_versions_follow_each_other(status: str) -> None:
    latest = Latest(3, "agreement", status)
    assert version_refusal(AGR, 4, VersionKind.AGREEMENT, latest) is None
    assert version_refusal(AGR, 4, VersionKind.VOID, latest) is None
    for wrong in (3, 5, 1):
        assert version_refusal(AGR, wrong, VersionKind.AGREEMENT, latest) == (
            f"{AGR}: the next version is 4, not {wrong}"
        )


@pytest.mark.parametrize("status", ["accepted", "anchored"])
def test_nothing_follows_an_accepted_void(status: str) -> None:
    latest = Latest(2, "void", status)
    for kind in VersionKind:
        assert version_refusal(AGR, 3, kind, latest) == (
            f"{AGR} is void: no version follows an accepted void"
        )


def test_a_draft_void_may_be_followed() -> None:
    assert version_refusal(AGR, 3, VersionKind.AGREEMENT, Latest(2, "void", "draft")) is None


# -- who signs -------------------------------------------------------------------------------


def test_signer_must_be_a_required_role() -> None:
    roles = ("broker", "customer")
    assert signer_refusal(AGR, 2, roles, "customer") is None
    assert signer_refusal(AGR, 2, roles, "witness") == (
        f"{AGR} v2 is signed by ['broker', 'customer'], not 'witness'"
    )


def test_one_signature_per_role() -> None:
    roles = ("broker", "customer")
    assert signer_refusal(AGR, 2, roles, "customer", ["broker"]) is None
    assert signer_refusal(AGR, 2, roles, "customer", ["customer"]) == (
        f"{AGR} v2 is already signed by 'customer'"
    )


def test_signature_set_is_exactly_one_per_required_role() -> None:
    roles = ("broker", "customer")
    assert signature_set_refusal(AGR, 1, roles, ["customer", "broker"]) is None
    for signed in (["customer"], ["customer", "customer", "broker"], ["broker", "witness"], []):
        assert signature_set_refusal(AGR, 1, roles, signed) == (
            f"{AGR} v1 needs exactly one signature of each of ['broker', 'customer'],"
            f" has {sorted(signed)}"
        )


# -- the agreement's state -------------------------------------------------------------------


def _version(number: int, kind: VersionKind, status: VersionStatus) -> AgreementVersion:
    return AgreementVersion(
        agreement_id=AGR,
        version=number,
        kind=kind,
        status=status,
        document_sm3=bytes(32),
        document_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        media_type="text/plain",
        size=0,
        required_roles=("broker", "customer"),
        chain_id=1,
        contract="0x" + "00" * 20,
        created_at=NOW,
        accepted_at=None if status is VersionStatus.DRAFT else NOW,
    )


A, V = VersionKind.AGREEMENT, VersionKind.VOID
D, ACC, ANC = VersionStatus.DRAFT, VersionStatus.ACCEPTED, VersionStatus.ANCHORED


@pytest.mark.parametrize(
    ("versions", "state", "current"),
    [
        ([(A, D)], AgreementState.DRAFT, None),
        ([(A, ACC)], AgreementState.IN_FORCE, 1),
        ([(A, ANC), (A, D)], AgreementState.IN_FORCE, 1),
        ([(A, ANC), (A, ACC)], AgreementState.IN_FORCE, 2),
        ([(A, ANC), (V, D)], AgreementState.IN_FORCE, 1),
        ([(A, ANC), (V, ACC)], AgreementState.VOID, None),
        ([(A, ANC), (A, ANC), (V, ANC)], AgreementState.VOID, None),
    ],
)
def test_state(
    versions: list[tuple[VersionKind, VersionStatus]], state: AgreementState, current: int | None
) -> None:
    agreement = Agreement(tuple(_version(i, k, s) for i, (k, s) in enumerate(versions, 1)))
    assert agreement.agreement_id == AGR
    assert agreement.latest.version == len(versions)
    assert agreement.state is state
    assert agreement.current_version == current


def test_state_names() -> None:
    assert [s.value for s in AgreementState] == ["draft", "in force", "void"]


def test_an_agreement_has_a_version() -> None:
    with pytest.raises(AgreementError, match=r"^an agreement has at least one version$"):
        Agreement(())


# -- signing times ---------------------------------------------------------------------------


def test_signing_window_defaults() -> None:
    window = SigningWindow()
    assert (window.max_age, window.max_skew) == (timedelta(hours=24), timedelta(minutes=5))


def test_signing_window_bounds_are_inclusive() -> None:
    window = SigningWindow()
    for signed_at in (NOW, NOW - timedelta(hours=24), NOW + timedelta(minutes=5)):
        assert window.check(signed_at, now=NOW) == signed_at


def test_signed_too_long_ago() -> None:
    with pytest.raises(
        SigningTimeOutOfWindow,
        match=r"^signed at 2026-11-20T11:59:59Z, more than 86400 s before 2026-11-21T12:00:00Z$",
    ):
        SigningWindow().check(NOW - timedelta(hours=24, seconds=1), now=NOW)
    with pytest.raises(SigningTimeOutOfWindow, match=r"^signed at 1970-01-01T00:00:00Z, "):
        SigningWindow().check(datetime(1970, 1, 1, tzinfo=UTC), now=NOW)


def test_signed_in_the_future() -> None:
    with pytest.raises(
        SigningTimeOutOfWindow,
        match=r"^signed at 2026-11-21T12:05:01Z, more than 300 s after 2026-11-21T12:00:00Z$",
    ):
        SigningWindow().check(NOW + timedelta(minutes=5, seconds=1), now=NOW)
    with pytest.raises(SigningTimeOutOfWindow, match=r"^signed at 2099-01-01T00:00:00Z, "):
        SigningWindow().check(datetime(2099, 1, 1, tzinfo=UTC), now=NOW)


def test_signing_window_configured() -> None:
    window = SigningWindow(max_age=timedelta(seconds=10), max_skew=timedelta(0))
    window.check(NOW - timedelta(seconds=10), now=NOW)
    with pytest.raises(SigningTimeOutOfWindow, match="more than 10 s before"):
        window.check(NOW - timedelta(seconds=11), now=NOW)
    with pytest.raises(SigningTimeOutOfWindow, match="more than 0 s after"):
        window.check(NOW + timedelta(seconds=1), now=NOW)


def test_signing_window_needs_aware_times() -> None:
    with pytest.raises(AgreementError, match=r"^signing times are aware datetimes \(UTC\)$"):
        SigningWindow().check(NOW.replace(tzinfo=None), now=NOW)
    with pytest.raises(AgreementError, match=r"^signing times are aware datetimes \(UTC\)$"):
        SigningWindow().check(NOW, now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("max_age", "max_skew"), [(timedelta(0), timedelta(0)), (timedelta(1), timedelta(-1))]
)
def test_signing_window_must_be_a_window(max_age: timedelta, max_skew: timedelta) -> None:
    with pytest.raises(AgreementError, match=r"^a signing window needs max_age > 0 and max_skew"):
        SigningWindow(max_age=max_age, max_skew=max_skew)
