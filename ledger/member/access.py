"""Who may do what to an agreement: the one home of the access policy.

Every call reaching an agreement is attributed (a verified :class:`~ledger.httpsig.Caller`: the
member or customer a registered key speaks for, with its roles). The rules:

* a **broker** creates agreements, which then belong to its member (the owner), and reads and
  writes (signatures, new versions, erasure) only its own member's agreements;
* an **auditor** reads every agreement and writes nothing;
* the **regulator** reads every agreement and writes nothing;
* a **customer** reads the agreements its key signed as ``customer``; it erases their documents
  with a customer-signed erasure request (any caller may relay one: the customer's signature is
  the authorization, the relaying caller is recorded);
* anyone else (another member, a member without these roles) sees nothing of them.

The consortium itself (members, proposals, keys): every member reads it, whatever its roles;
a customer does not (:func:`check_consortium_read`). Governance writes (proposals, votes, keys)
are sent on chain with the service's own account, so only the member that runs the service
makes them through it (:func:`check_operator`): the caller's member ID is that account.

404 vs 403. A caller who may not see an agreement gets exactly what it would get if the
agreement did not exist (:class:`NotVisible`, which the service answers as "no agreement ..."
with the same words): a 403 would confirm to another member that the ID exists and belongs to
someone. A 403 (:class:`Forbidden`) is only given where it reveals nothing: the caller's roles
forbid the action whatever the agreement (an auditor writing, a caller without the broker role
creating), or the caller may read the agreement anyway (the regulator asking to write).

Decided before anything is changed; a refusal changes nothing. Agreements stored before calls
were attributed have no owner: readers (auditor, regulator, their customer) still read them;
only a customer-signed request erases them; no broker writes to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from ledger.errors import LedgerError
from ledger.httpsig import Caller

__all__ = [
    "READER_ROLES",
    "AccessError",
    "Action",
    "Forbidden",
    "NotVisible",
    "Role",
    "check_agreement_access",
    "check_audit_read",
    "check_consortium_read",
    "check_create",
    "check_operator",
    "may_read",
]


class Role(StrEnum):
    """The roles a key's owner may hold (the consortium grants them; customers are customers)."""

    BROKER = "broker"
    AUDITOR = "auditor"
    REGULATOR = "regulator"
    CUSTOMER = "customer"


#: Roles that read every agreement (and write none).
READER_ROLES = frozenset({Role.AUDITOR, Role.REGULATOR})


class Action(StrEnum):
    READ = "read"  # an agreement, a version, a proof
    WRITE = "write"  # sign a draft, a new version (supersede, void)
    ERASE = "erase"  # crypto-shred the documents (the owner broker's way)


class AccessError(LedgerError):
    """Root of the access policy's refusals."""


class Forbidden(AccessError):
    """The caller is known but may not do this; the message says what it lacks."""


class NotVisible(AccessError):
    """The caller may not see the agreement at all: answered as if it did not exist."""


def _who(caller: Caller) -> str:
    roles = ", ".join(sorted(caller.roles)) or "none"
    return f"{caller.member_id!r} (key {caller.keyid!r}, roles: {roles})"


def check_create(caller: Caller) -> None:
    """Creating agreements (drafts, signed submissions, bulk) needs the broker role."""
    if Role.BROKER not in caller.roles:
        raise Forbidden(
            f"creating agreements needs the broker role; {_who(caller)} does not have it"
        )


def may_read(caller: Caller, *, owner: str | None, customer_keys: Iterable[bytes] = ()) -> bool:
    """Whether ``caller`` reads an agreement of ``owner`` whose versions were signed as
    ``customer`` by ``customer_keys`` (raw public keys)."""
    if READER_ROLES & caller.roles:
        return True
    if Role.BROKER in caller.roles and owner is not None and owner == caller.member_id:
        return True
    return Role.CUSTOMER in caller.roles and caller.public_key.to_raw() in set(customer_keys)


def check_agreement_access(
    caller: Caller,
    action: Action,
    *,
    agreement_id: str,
    owner: str | None,
    customer_keys: Iterable[bytes] = (),
) -> None:
    """Allow ``action`` on the agreement (owned by ``owner``), or raise :class:`NotVisible`
    (the caller may not see it) or :class:`Forbidden` (it may see it, not do this)."""
    readable = may_read(caller, owner=owner, customer_keys=customer_keys)
    if action is Action.READ:
        if not readable:
            raise NotVisible(f"no agreement {agreement_id}")
        return
    owns = Role.BROKER in caller.roles and owner is not None and owner == caller.member_id
    if owns:
        return
    if not readable:
        raise NotVisible(f"no agreement {agreement_id}")
    if READER_ROLES & caller.roles and Role.BROKER not in caller.roles:
        lacks = "auditors and the regulator read agreements and write nothing"
    elif owner is None:
        lacks = "it was stored before calls were attributed and has no owning broker"
    else:
        lacks = "only the broker that owns it writes to it"
    what = "write to it"
    if action is Action.ERASE:
        what = "erase its documents"
        lacks += "; its customer erases them with a customer-signed erasure request"
    raise Forbidden(f"{_who(caller)} may not {what}: {lacks}")


def check_audit_read(caller: Caller, what: str) -> None:
    """An audit's reads across customers (every receipt of a period, the reconciliation) are for
    auditors and the regulator."""
    if not READER_ROLES & caller.roles:
        raise Forbidden(f"{what} is for auditors and the regulator; {_who(caller)} is neither")


def check_consortium_read(caller: Caller) -> None:
    """Reading the consortium (members, proposals, keys) is for its members, not customers."""
    if Role.CUSTOMER in caller.roles:
        raise Forbidden(
            f"the consortium's members, proposals and keys are read by its members; {_who(caller)}"
            " is a customer"
        )


def check_operator(caller: Caller, *, operator: str) -> None:
    """Governance writes go on chain from ``operator``, the service's own chain account: only
    the member whose ID is that account makes them (addresses compare without case)."""
    if caller.member_id == operator or (
        caller.member_id.startswith("0x") and caller.member_id.lower() == operator.lower()
    ):
        return
    raise Forbidden(
        f"this service sends governance transactions as member {operator}, its own chain account;"
        f" {_who(caller)} is not that member: propose, vote and manage keys through your own"
        " member's service"
    )
