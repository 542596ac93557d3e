"""The access policy, cell by cell: who creates, reads, writes and erases an agreement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import Caller, default_keyid
from ledger.member import Action, Forbidden, NotVisible, check_agreement_access, check_create
from ledger.member.access import check_consortium_read, check_operator

CUSTOMER_KEY = SM2PrivateKey.generate().public_key()
AGREEMENT = "agr_" + "0" * 32


def caller(member: str, *roles: str, key: SM2PrivateKey | None = None) -> Caller:
    public = (key or SM2PrivateKey.generate()).public_key()
    return Caller(
        keyid=default_keyid(public),
        member_id=member,
        roles=frozenset(roles),
        public_key=public,
        created=datetime(2026, 11, 28, tzinfo=UTC),
    )


def customer() -> Caller:
    return Caller(
        keyid=default_keyid(CUSTOMER_KEY),
        member_id="cust-1",
        roles=frozenset({"customer"}),
        public_key=CUSTOMER_KEY,
        created=datetime(2026, 11, 28, tzinfo=UTC),
    )


def decide(who: Caller, action: Action, owner: str | None = "member-a") -> str:
    try:
        check_agreement_access(
            who, action, agreement_id=AGREEMENT, owner=owner, customer_keys=[CUSTOMER_KEY.to_raw()]
        )
    except NotVisible as refusal:
        assert str(refusal) == f"no agreement {AGREEMENT}"
        return "404"
    except Forbidden:
        return "403"
    return "ok"


@pytest.mark.parametrize(
    ("who", "read", "write", "erase"),
    [
        (caller("member-a", "broker"), "ok", "ok", "ok"),
        (caller("member-b", "broker"), "404", "404", "404"),
        (caller("member-c"), "404", "404", "404"),
        (caller("audit-firm", "auditor"), "ok", "403", "403"),
        (caller("csrc", "regulator"), "ok", "403", "403"),
        (customer(), "ok", "403", "403"),
        (caller("cust-2", "customer"), "404", "404", "404"),
        (caller("member-b", "broker", "auditor"), "ok", "403", "403"),
    ],
)
def test_the_policy(who: Caller, read: str, write: str, erase: str) -> None:
    assert [decide(who, a) for a in (Action.READ, Action.WRITE, Action.ERASE)] == [
        read,
        write,
        erase,
    ]


def test_an_agreement_without_owner_is_read_by_readers_and_written_by_no_broker() -> None:
    assert decide(caller("member-a", "broker"), Action.READ, owner=None) == "404"
    assert decide(caller("audit-firm", "auditor"), Action.READ, owner=None) == "ok"
    assert decide(customer(), Action.ERASE, owner=None) == "403"
    with pytest.raises(Forbidden, match="it was stored before calls were attributed"):
        check_agreement_access(
            caller("csrc", "regulator", "broker"),
            Action.WRITE,
            agreement_id=AGREEMENT,
            owner=None,
        )


def test_creating_needs_the_broker_role() -> None:
    check_create(caller("member-a", "broker"))
    for who in (caller("audit-firm", "auditor"), customer(), caller("member-c")):
        with pytest.raises(Forbidden, match=r"^creating agreements needs the broker role; '"):
            check_create(who)


OPERATOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_every_member_reads_the_consortium_and_no_customer() -> None:
    for who in (
        caller("member-a", "broker"),
        caller("audit-firm", "auditor"),
        caller("csrc", "regulator"),
        caller("member-c"),  # a member without roles votes too
    ):
        check_consortium_read(who)
    with pytest.raises(Forbidden, match=r"^the consortium's .* read by its members; 'cust-1' "):
        check_consortium_read(customer())


def test_only_the_member_whose_account_runs_the_service_governs_through_it() -> None:
    check_operator(caller(OPERATOR, "broker"), operator=OPERATOR)
    check_operator(caller(OPERATOR.lower()), operator=OPERATOR)  # addresses compare caseless
    for who in (
        caller("member-a", "broker"),
        caller("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "broker"),
        caller(OPERATOR.upper()[2:]),  # not an address: names compare exactly
        customer(),
    ):
        with pytest.raises(
            Forbidden,
            match=rf"^this service sends governance transactions as member {OPERATOR}, its own"
            r" chain account; '.*' \(key 'sm3:[0-9a-f]+', roles: .*\) is not that member: ",
        ):
            check_operator(who, operator=OPERATOR)
