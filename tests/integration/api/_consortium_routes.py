"""The ``/v1/consortium`` endpoints for the HTTP authorization matrix: each builds its request
when the cell runs, preparing on chain (as the service's own member, through the running
service's :class:`~ledger.member.governance.Governance`) what the operator's call needs to
succeed: a proposal to vote on, one that succeeded to execute, a key of its own to rotate.

The service under test runs on the dev chain's one-member consortium (the dev account, every
threshold 1); proposals change the admit-member threshold to 1, which it already is, so any
number of them may execute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger import canonical
from ledger.chain.consortium import ProposalKind
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.member.governance import Governance, SetThreshold

Built = tuple[str, str, Any]
#: A route of the matrix: the running service's governance -> (method, path, body).
Build = Callable[[Governance], Built]

_NO_CHANGE = SetThreshold(ProposalKind.ADMIT_MEMBER, 1)
_THRESHOLD_BODY = {"kind": "change-threshold", "target": "admit-member", "threshold": 1}


def _hex_id(raw: bytes) -> str:
    return canonical.hex0x(raw)


def _fresh_key() -> str:
    return canonical.hex0x(SM2PrivateKey.generate().public_key().to_raw())


def _proposed(g: Governance) -> str:
    return _hex_id(g.propose(_NO_CHANGE).proposal.proposal_id)


def _succeeded(g: Governance) -> str:
    proposal_id = g.propose(_NO_CHANGE).proposal.proposal_id
    g.vote(proposal_id)
    return _hex_id(proposal_id)


def _own_key(g: Governance) -> str:
    registered = g.register_key("proof-sealing", SM2PrivateKey.generate().public_key())
    return _hex_id(registered.key.key_id)


READS: dict[str, Build] = {
    "consortium": lambda g: ("GET", "/v1/consortium", None),
    "proposals": lambda g: ("GET", "/v1/consortium/proposals?state=active", None),
    "proposal": lambda g: ("GET", f"/v1/consortium/proposals/{_proposed(g)}", None),
    "member-keys": lambda g: ("GET", f"/v1/consortium/members/{g.account}/keys", None),
}
WRITES: dict[str, Build] = {
    "propose": lambda g: ("POST", "/v1/consortium/proposals", _THRESHOLD_BODY),
    "vote": lambda g: ("POST", f"/v1/consortium/proposals/{_proposed(g)}/votes", None),
    "execute": lambda g: ("POST", f"/v1/consortium/proposals/{_succeeded(g)}/execute", None),
    "cancel": lambda g: ("POST", f"/v1/consortium/proposals/{_proposed(g)}/cancel", None),
    "register-key": lambda g: (
        "POST",
        "/v1/consortium/keys",
        {"purpose": "request-signing", "public_key": _fresh_key()},
    ),
    "rotate-key": lambda g: (
        "POST",
        f"/v1/consortium/keys/{_own_key(g)}/rotation",
        {"public_key": _fresh_key()},
    ),
    "revoke-key": lambda g: ("POST", f"/v1/consortium/keys/{_own_key(g)}/revocation", None),
}
#: Each route's endpoint, as the OpenAPI document names it.
ENDPOINTS = {
    "consortium": ("GET", "/v1/consortium"),
    "proposals": ("GET", "/v1/consortium/proposals"),
    "proposal": ("GET", "/v1/consortium/proposals/{proposal_id}"),
    "member-keys": ("GET", "/v1/consortium/members/{account}/keys"),
    "propose": ("POST", "/v1/consortium/proposals"),
    "vote": ("POST", "/v1/consortium/proposals/{proposal_id}/votes"),
    "execute": ("POST", "/v1/consortium/proposals/{proposal_id}/execute"),
    "cancel": ("POST", "/v1/consortium/proposals/{proposal_id}/cancel"),
    "register-key": ("POST", "/v1/consortium/keys"),
    "rotate-key": ("POST", "/v1/consortium/keys/{key_id}/rotation"),
    "revoke-key": ("POST", "/v1/consortium/keys/{key_id}/revocation"),
}
#: What the operator's call answers.
SUCCESS = {
    **dict.fromkeys(READS, 200),
    "propose": 201,
    "vote": 201,
    "execute": 200,
    "cancel": 200,
    "register-key": 201,
    "rotate-key": 201,
    "revoke-key": 200,
}


def expected(caller: str) -> Callable[[str], tuple[int, str | None]]:
    """(status, problem type or None) of ``caller`` (authenticated) on each consortium route:
    members read, only the operator writes, a customer does neither."""

    def cell(route: str) -> tuple[int, str | None]:
        if caller == "customer":
            return 403, "forbidden"
        if caller == "operator" or route in READS:
            return SUCCESS[route], None
        return 403, "forbidden"

    return cell
