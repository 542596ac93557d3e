"""What ``ledger consortium`` and the HTTP API parse alike: accounts, IDs, proposal kinds and
states, and a proposal's change decoded from its data."""

from __future__ import annotations

import pytest

from ledger.chain.consortium import (
    MemberSpec,
    ProposalKind,
    ProposalState,
    decode_change,
    describe_change,
    encode_change,
)
from ledger.member.governance import parse_account, parse_id

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_an_account_is_given_checksummed_and_a_wrong_checksum_is_refused() -> None:
    assert parse_account(ACCOUNT.lower()) == ACCOUNT
    assert parse_account(ACCOUNT) == ACCOUNT
    typo = ACCOUNT[:2] + ACCOUNT[2:].swapcase()
    for bad in (typo, ACCOUNT[:-1], "alice", ""):
        with pytest.raises(ValueError, match=r"^'.*' is not a \(checksummed\) account$"):
            parse_account(bad)


def test_an_id_is_32_bytes_of_hex() -> None:
    assert parse_id("0x" + "ab" * 32) == b"\xab" * 32
    assert parse_id("cd" * 32) == b"\xcd" * 32
    for bad in ("0x" + "ab" * 31, "0x" + "zz" * 32, "0x" + "ab" * 33):
        with pytest.raises(ValueError, match=r"^'.*' is not a 32-byte hex ID$"):
            parse_id(bad)


def test_kinds_by_label_and_the_open_states() -> None:
    assert [ProposalKind.of_label(k.label) for k in ProposalKind] == list(ProposalKind)
    with pytest.raises(ValueError, match=r"^unknown proposal kind 'admit' \(admit-member, "):
        ProposalKind.of_label("admit")
    opened = {s for s in ProposalState if s.is_open}
    assert opened == {ProposalState.PENDING, ProposalState.ACTIVE, ProposalState.SUCCEEDED}


def test_a_change_decodes_to_what_was_encoded() -> None:
    spec = MemberSpec(
        account=ACCOUNT,
        name="Delta",
        endpoint="https://delta.example",
        key_fingerprint=b"\x01" * 32,
        roles=("broker", "auditor"),
    )
    cases = [
        (
            ProposalKind.ADMIT_MEMBER,
            (spec,),
            {
                "account": ACCOUNT,
                "name": "Delta",
                "endpoint": "https://delta.example",
                "key_fingerprint": b"\x01" * 32,
                "roles": ("broker", "auditor"),
            },
            f'admit-member {ACCOUNT} "Delta" https://delta.example broker,auditor',
        ),
        (ProposalKind.REMOVE_MEMBER, (ACCOUNT,), {"account": ACCOUNT}, f"remove-member {ACCOUNT}"),
        (
            ProposalKind.CHANGE_THRESHOLD,
            (ProposalKind.GRANT_ROLE, 3),
            {"kind": ProposalKind.GRANT_ROLE, "threshold": 3},
            "change-threshold grant-role -> 3",
        ),
        (
            ProposalKind.REVOKE_ROLE,
            (ACCOUNT, "regulator"),
            {"account": ACCOUNT, "role": "regulator"},
            f"revoke-role {ACCOUNT} regulator",
        ),
    ]
    for kind, args, fields, words in cases:
        data = encode_change(kind, *args)
        assert decode_change(kind, data) == fields
        assert describe_change(kind, data) == words
