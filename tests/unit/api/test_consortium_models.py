"""The consortium's input models: one tag per proposal kind, named as the chain binding names
it, each giving the change it stands for."""

from __future__ import annotations

import typing

from pydantic import TypeAdapter

from api.models.consortium import ProposalIn
from ledger.chain.consortium import ProposalKind
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.member.governance import Admit, Grant, Remove, Revoke, SetThreshold

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_one_tag_per_proposal_kind() -> None:
    union = typing.get_args(ProposalIn)[0]
    tags = {model.model_fields["kind"].annotation.__args__[0] for model in typing.get_args(union)}
    assert tags == {kind.label for kind in ProposalKind}


def test_each_body_is_its_change() -> None:
    adapter: TypeAdapter[typing.Any] = TypeAdapter(ProposalIn)
    key = SM2PrivateKey.generate().public_key()
    admit = adapter.validate_python(
        {
            "kind": "admit-member",
            "account": ACCOUNT.lower(),
            "name": "Delta",
            "endpoint": "https://delta.example",
            "public_key": key.to_pem().decode(),
            "roles": ["broker"],
        }
    ).to_change()
    assert isinstance(admit, Admit)
    assert (admit.spec.account, admit.spec.key_fingerprint, admit.spec.roles) == (
        ACCOUNT,
        key.fingerprint(),
        ("broker",),
    )
    bodies = [
        ({"kind": "remove-member", "account": ACCOUNT}, Remove(ACCOUNT)),
        (
            {"kind": "change-threshold", "target": "grant-role", "threshold": 2},
            SetThreshold(ProposalKind.GRANT_ROLE, 2),
        ),
        ({"kind": "grant-role", "account": ACCOUNT, "role": "auditor"}, Grant(ACCOUNT, "auditor")),
        ({"kind": "revoke-role", "account": ACCOUNT, "role": "broker"}, Revoke(ACCOUNT, "broker")),
    ]
    for body, change in bodies:
        assert adapter.validate_python(body).to_change() == change
