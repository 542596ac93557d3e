"""The agreement's rules, each written once: limits, the roles that sign, which version may come
next, a complete signature set, the agreement's state, the signing-time window and the void
notice. The service, the database checks, the API models and the CLI ask these.

Refusals that depend on stored state come back as a reason (``str``, or ``None``: allowed), so
each layer raises its own error with the same words (the service :class:`AgreementConflict
<ledger.service.errors.AgreementConflict>`, the database :class:`Conflict
<ledger.db.errors.Conflict>`); malformed input raises :class:`AgreementError` here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from ledger import canonical
from ledger.agreement._payload import (
    AgreementError,
    Document,
    check_agreement_id,
    check_role,
)
from ledger.agreement._records import (
    AgreementVersion,
    ErasureRecord,
    VersionKind,
    VersionStatus,
)

#: Roles every account agreement must be signed by.
REQUIRED_ROLES = ("customer", "broker")
#: Most roles that sign one version (the contract's ``MAX_SIGNERS``; a proof holds at most as
#: many signatures).
MAX_SIGNERS = 16
#: Largest document, in bytes (before encryption).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: A document's media type: 1 to this many printable characters.
MAX_MEDIA_TYPE_CHARS = 200
#: A void's reason: 1 to this many characters.
MAX_REASON_CHARS = 2000
#: Media type of the document of a void version (the service writes it, the parties sign it).
VOID_MEDIA_TYPE = "application/vnd.ledger.void+json"


class SigningTimeOutOfWindow(AgreementError):
    """A signature's time is too far in the past or in the future (see :class:`SigningWindow`)."""


# -- form -----------------------------------------------------------------------------------


def check_required_roles(required_roles: Iterable[str]) -> tuple[str, ...]:
    """The roles that must sign a version, sorted: well-formed, distinct, including every one of
    :data:`REQUIRED_ROLES`, at most :data:`MAX_SIGNERS`."""
    given = list(required_roles)
    roles = tuple(sorted(check_role(r) for r in given))
    if len(set(roles)) != len(roles):
        raise AgreementError(f"required roles repeat: {given}")
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        raise AgreementError(
            f"every agreement is signed by {list(REQUIRED_ROLES)}; missing {missing}"
        )
    if len(roles) > MAX_SIGNERS:
        raise AgreementError(f"at most {MAX_SIGNERS} signing roles, got {len(roles)}")
    return roles


def check_document(document: Document) -> Document:
    """At most :data:`MAX_DOCUMENT_BYTES`; a media type of 1 to :data:`MAX_MEDIA_TYPE_CHARS`
    printable characters."""
    if len(document.content) > MAX_DOCUMENT_BYTES:
        raise AgreementError(f"documents are at most {MAX_DOCUMENT_BYTES} bytes")
    media_type = document.media_type
    if not 1 <= len(media_type) <= MAX_MEDIA_TYPE_CHARS or not media_type.isprintable():
        raise AgreementError(f"media type must be 1-{MAX_MEDIA_TYPE_CHARS} printable characters")
    return document


def void_notice(agreement_id: str, *, voids_version: int, reason: str) -> Document:
    """The document of a void version: which version it voids and why (canonical JSON)."""
    if not reason.strip() or len(reason) > MAX_REASON_CHARS:
        raise AgreementError(f"a void needs a reason of 1-{MAX_REASON_CHARS} characters")
    content = canonical.dumps(
        {
            "type": "ledger/void-notice",
            "agreement_id": check_agreement_id(agreement_id),
            "voids_version": voids_version,
            "reason": reason,
        }
    )
    return Document(content, media_type=VOID_MEDIA_TYPE)


# -- against the stored state ---------------------------------------------------------------


class LatestVersion(Protocol):
    """What the next-version rule needs of the latest stored version (a stored
    :class:`AgreementVersion`, or the database's lighter row)."""

    @property
    def version(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def owner(self) -> str | None: ...


def next_version(latest: LatestVersion | None) -> int:
    """The number of the version that may follow ``latest`` (1 for a new agreement)."""
    return 1 if latest is None else latest.version + 1


def version_refusal(
    agreement_id: str, version: int, kind: VersionKind, latest: LatestVersion | None
) -> str | None:
    """Why ``version`` of ``kind`` cannot follow ``latest`` (None: it can). Versions go 1, 2,
    ...; a void is never version 1; nothing follows an accepted void."""
    expected = next_version(latest)
    if version != expected:
        return f"{agreement_id}: the next version is {expected}, not {version}"
    if kind is VersionKind.VOID and latest is None:
        return f"{agreement_id}: nothing to void, the agreement has no version"
    if (
        latest is not None
        and latest.kind == VersionKind.VOID
        and latest.status != VersionStatus.DRAFT
    ):
        return f"{agreement_id} is void: no version follows an accepted void"
    return None


def owner_refusal(agreement_id: str, latest: LatestVersion | None, owner: str | None) -> str | None:
    """Why a version created by ``owner`` cannot join the stored agreement (None: it can): every
    version of an agreement comes from the member whose broker created it, so no one else signs
    into its drafts, supersedes, voids or squats its ID. The words say the ID is taken, not
    whose it is or what it holds (asked before :func:`version_refusal`, which says more)."""
    if latest is None or latest.owner == owner:
        return None
    return f"{agreement_id}: this agreement ID is taken"


def signer_refusal(
    agreement_id: str,
    version: int,
    required_roles: Sequence[str],
    role: str,
    signed_roles: Iterable[str] = (),
) -> str | None:
    """Why ``role`` may not sign this version now (None: it may): it is not one of the version's
    required roles, or it has signed already (one signature per role)."""
    if role not in required_roles:
        return f"{agreement_id} v{version} is signed by {list(required_roles)}, not {role!r}"
    if role in signed_roles:
        return f"{agreement_id} v{version} is already signed by {role!r}"
    return None


def signer_keys_refusal(
    agreement_id: str, version: int, signers: Iterable[tuple[str, bytes]]
) -> str | None:
    """Why these (role, raw public key) signers cannot sign one version together (None: they
    can): one key signs for one role only, so the customer's and the broker's keys differ."""
    roles_of: dict[bytes, list[str]] = {}
    for role, key in signers:
        roles_of.setdefault(key, []).append(role)
    for roles in roles_of.values():
        if len(set(roles)) > 1:
            return (
                f"{agreement_id} v{version}: one key signs as {sorted(set(roles))}; each role"
                " signs with its own key (the customer's and the broker's differ)"
            )
    return None


def party_refusal(
    agreement_id: str,
    version: int,
    role: str,
    key: bytes,
    *,
    in_force: AgreementVersion | None,
    owner: str | None,
    key_member: str | None,
) -> str | None:
    """Why ``key`` (raw public key) may not sign ``version`` as ``role`` (None: it may).

    Once a version is in force (``in_force``, the latest accepted one), every later version
    (supersede, void) is signed by its parties: the ``customer`` with the very key that signed
    it, the ``broker`` with a key the key directory names as a broker key of the agreement's
    ``owner``, valid now (``key_member``: whose broker key it is, None: no valid broker key).
    Agreements stored before calls were attributed have no owner: their broker signs with the
    in-force broker key itself."""
    if in_force is None:
        return None
    if role == "customer" and key != in_force.signer_key("customer"):
        return (
            f"{agreement_id} v{version} must be signed by the customer key that signed"
            f" v{in_force.version}, not another key"
        )
    if role == "broker":
        if owner is None and key != in_force.signer_key("broker"):
            return (
                f"{agreement_id} v{version} must be signed by the broker key that signed"
                f" v{in_force.version}"
            )
        if owner is not None and key_member != owner:
            return (
                f"{agreement_id} v{version} must be signed by a broker key of member {owner!r}"
                " that the key directory holds valid now"
            )
    return None


def signature_set_refusal(
    agreement_id: str, version: int, required_roles: Sequence[str], signed_roles: Iterable[str]
) -> str | None:
    """Why these signatures do not accept the version (None: exactly one per required role)."""
    signed = sorted(signed_roles)
    if signed != sorted(required_roles):
        return (
            f"{agreement_id} v{version} needs exactly one signature of each of"
            f" {sorted(required_roles)}, has {signed}"
        )
    return None


# -- the agreement's state ------------------------------------------------------------------


class AgreementState(StrEnum):
    DRAFT = "draft"  # no version accepted yet
    IN_FORCE = "in force"  # its latest accepted version is an agreement version
    VOID = "void"  # its latest accepted version is a void


@dataclass(frozen=True)
class Agreement:
    """An agreement: every version, oldest first, and the state they put it in."""

    versions: tuple[AgreementVersion, ...]
    #: Every erasure of its document keys, oldest first.
    erasures: tuple[ErasureRecord, ...] = ()

    def __post_init__(self) -> None:
        if not self.versions:
            raise AgreementError("an agreement has at least one version")

    @property
    def owner(self) -> str | None:
        """The member whose broker created the agreement (None: stored before attribution)."""
        return self.versions[0].owner

    @property
    def in_force(self) -> AgreementVersion | None:
        """The latest accepted version (its parties sign the next one); None while a draft."""
        return self._latest_accepted

    @property
    def agreement_id(self) -> str:
        return self.versions[0].agreement_id

    @property
    def latest(self) -> AgreementVersion:
        """The highest version, whatever its kind and status."""
        return self.versions[-1]

    @property
    def _latest_accepted(self) -> AgreementVersion | None:
        accepted = [v for v in self.versions if v.status is not VersionStatus.DRAFT]
        return accepted[-1] if accepted else None

    @property
    def state(self) -> AgreementState:
        current = self._latest_accepted
        if current is None:
            return AgreementState.DRAFT
        if current.kind is VersionKind.VOID:
            return AgreementState.VOID
        return AgreementState.IN_FORCE

    @property
    def current_version(self) -> int | None:
        """The version in force (None while a draft or once void)."""
        current = self._latest_accepted
        return current.version if current and current.kind is VersionKind.AGREEMENT else None


# -- signing times --------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningWindow:
    """When a signature may have been made, as seen at acceptance: at most ``max_age`` before
    now, at most ``max_skew`` after it (the signer's clock may run a little ahead). Both bounds
    are inclusive; ``now`` is passed in."""

    max_age: timedelta = timedelta(hours=24)
    max_skew: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0) or self.max_skew < timedelta(0):
            raise AgreementError(
                f"a signing window needs max_age > 0 and max_skew >= 0,"
                f" got {self.max_age} and {self.max_skew}"
            )

    def check(self, signed_at: datetime, *, now: datetime) -> datetime:
        """``signed_at`` if it is within the window around ``now``, else
        :class:`SigningTimeOutOfWindow`."""
        if signed_at.utcoffset() is None or now.utcoffset() is None:
            raise AgreementError("signing times are aware datetimes (UTC)")
        when = canonical.timestamp(signed_at)
        if signed_at < now - self.max_age:
            raise SigningTimeOutOfWindow(
                f"signed at {when}, more than {_seconds(self.max_age)} before"
                f" {canonical.timestamp(now)}"
            )
        if signed_at > now + self.max_skew:
            raise SigningTimeOutOfWindow(
                f"signed at {when}, more than {_seconds(self.max_skew)} after"
                f" {canonical.timestamp(now)}"
            )
        return signed_at


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():g} s"
