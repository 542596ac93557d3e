"""Member B's side of identity reuse: ask the attester for a customer's fields under a grant,
check what came back, open the account on it and record the reliance.

Two halves, so the rule can be checked without the attester's service:

* **ask** (:meth:`ReuseDesk.request_release`): a signed request (RFC 9421, with the key this
  member registered for request-signing, :class:`~ledger.client.LedgerClient`) to ``POST
  /v1/consents/{grant_id}/releases`` on the attester's service; its refusals come back as
  :class:`AttesterRefused` (status and problem type as the attester gave them);
* **open and check** (:func:`check_released`, pure, and :meth:`ReuseDesk.check`, which reads the
  chain and the lifecycle feed's record first): the envelope is opened with this member's
  ``disclosure-receiving`` key; the receipt must name this grant, this member, the fields and
  purpose asked, the chain and registry of the grant, the attestation the grant covers and its
  attester; the envelope must carry exactly the receipt's fields, for the same grant,
  attestation and receipt; each Disclosure must be the one the attestation on chain commits to
  (:func:`~ledger.attestation.kyc.check_disclosures`); and the attestation and grant must be
  valid **now** by the chain (:func:`~ledger.consent.release.check_release`, the rule the
  attester applied, asked again from B's side) and by what this member's lifecycle feed has
  seen end (:meth:`ledger.db.Database.lifecycle_ends`).

Then :meth:`ReuseDesk.open_account` creates the account agreement, whose document records what
it relied on (:mod:`ledger.member.account_opening`), and the reliance row
(:class:`~ledger.db.Reliance`), which the lifecycle feed marks when the attestation or grant
ends (:mod:`ledger.member.lifecycle`). Reliances are read by auditors, the regulator and the
member itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from eth_utils.address import to_checksum_address

from ledger import canonical
from ledger.agreement import AgreementVersion, Document
from ledger.attestation.kyc import check_disclosures
from ledger.chain.attestations import Attestation, IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract, GrantRecord, RevocationRecord
from ledger.client import LedgerClient
from ledger.consent import AccessReceipt, ReceiptError
from ledger.consent.envelope import open_release
from ledger.consent.release import ReleaseRefused, ReleaseRequest, check_release
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.customer.documents import SignedUse, to_bytes
from ledger.db import Database, LifecycleEnd, Reliance
from ledger.errors import LedgerError
from ledger.httpsig import Caller
from ledger.member.access import READER_ROLES, Forbidden, Role
from ledger.member.account_opening import ReliedOn, account_opening
from ledger.signature import Signature

__all__ = [
    "AttesterRefused",
    "AttesterUnreachable",
    "CheckedRelease",
    "Opened",
    "ReleaseAsked",
    "ReleaseMismatch",
    "RelianceRefused",
    "ReuseDesk",
    "ReuseError",
    "check_released",
    "releases_path",
]


class ReuseError(LedgerError):
    """Root of the errors of reusing another member's KYC."""


class ReleaseMismatch(ReuseError):
    """What the attester released is not what was asked (another grant, member, fields,
    purpose, chain, receipt), or its reply is malformed."""


class RelianceRefused(ReuseError):
    """The attestation or grant is not valid now (by the chain or the lifecycle feed): no
    account is opened on it. The message starts with the reason (``attestation-not-valid``,
    ``grant-revoked``, ...)."""


class AttesterRefused(ReuseError):
    """The attester's service refused the release (its status and problem type kept)."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(f"the attester refused the release ({status} {kind}): {detail}")
        self.status = status
        self.kind = kind


class AttesterUnreachable(ReuseError):
    """The attester's service did not answer."""


def releases_path(grant_id: bytes) -> str:
    return f"/v1/consents/{canonical.hex0x(grant_id)}/releases"


@dataclass(frozen=True)
class ReleaseAsked:
    """What member B asks for: fields of a grant's attestation, for a purpose, with the
    customer's signed authorization of this use in ``per-use`` mode."""

    grant_id: bytes
    fields: tuple[str, ...]
    purpose: str
    use: SignedUse | None = None

    def body(self) -> dict[str, object]:
        """The release request's JSON body."""
        use = None if self.use is None else json.loads(to_bytes(self.use))
        return {"fields": list(self.fields), "purpose": self.purpose, "use": use}


@dataclass(frozen=True)
class CheckedRelease:
    """A release opened and checked: the receipt, the attestation and grant as the chain holds
    them, the fields' values, and when (the chain's time, UNIX seconds)."""

    receipt: AccessReceipt
    attestation: Attestation
    grant: GrantRecord
    values: dict[str, object] = field(repr=False)
    checked_at: int


def _kebab(name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")


def check_released(
    reply: Mapping[str, object],
    *,
    asked: ReleaseAsked,
    member: str,
    key: SM2PrivateKey,
    attestation: Attestation,
    grant: GrantRecord,
    revocations: Sequence[RevocationRecord],
    now: int,
    chain_id: int,
    registry: str,
    ended: Sequence[LifecycleEnd] = (),
) -> CheckedRelease:
    """Open and check the attester's reply ``{"receipt": ..., "envelope": ...}`` to ``asked``
    (see the module's docstring), against the attestation, grant and revocations read from the
    chain at ``now`` and the ends the lifecycle feed recorded; the checked release, else
    :class:`ReleaseMismatch`, :class:`RelianceRefused`,
    :class:`~ledger.consent.envelope.EnvelopeError` or
    :class:`~ledger.attestation.DisclosureError`."""
    receipt_json, envelope = reply.get("receipt"), reply.get("envelope")
    if not isinstance(receipt_json, Mapping) or not isinstance(envelope, Mapping):
        raise ReleaseMismatch("a release reply is {receipt, envelope}, two objects")
    try:
        receipt = AccessReceipt.from_bytes(canonical.dumps(receipt_json))
    except (ReceiptError, canonical.EncodingError) as exc:
        raise ReleaseMismatch(f"the release's receipt is malformed: {exc}") from None
    _check_receipt(receipt, asked, member, attestation, grant, chain_id, registry)
    released = open_release(envelope, key=key)
    if (released.grant_id, released.attestation_id, released.receipt_id) != (
        receipt.grant_id,
        receipt.attestation_id,
        receipt.receipt_id,
    ):
        raise ReleaseMismatch("the envelope is of another grant, attestation or receipt")
    names = sorted(d.name for d in released.disclosures)
    if names != list(receipt.fields):
        raise ReleaseMismatch(f"the envelope discloses {names}, the receipt {list(receipt.fields)}")
    values = check_disclosures(attestation, [d.encoded for d in released.disclosures])
    if ended:
        end = ended[0]
        raise RelianceRefused(
            f"{end.reason.value}: this member's lifecycle feed saw the {end.kind} end at"
            f" {canonical.timestamp(end.ended_at)} (block {end.block})"
        )
    request = ReleaseRequest(
        grant_id=asked.grant_id,
        caller=member,
        fields=asked.fields,
        purpose=asked.purpose,
        use=asked.use,
    )
    try:
        check_release(
            request,
            grant=grant,
            revocations=revocations,
            attestation=attestation,
            uses=0,  # the attester counted the uses when it wrote the receipt
            now=now,
            chain_id=chain_id,
            registry=registry,
        )
    except ReleaseRefused as exc:
        raise RelianceRefused(f"{_kebab(type(exc).__name__)}: {exc}") from exc
    return CheckedRelease(
        receipt=receipt, attestation=attestation, grant=grant, values=values, checked_at=now
    )


def _check_receipt(
    receipt: AccessReceipt,
    asked: ReleaseAsked,
    member: str,
    attestation: Attestation,
    grant: GrantRecord,
    chain_id: int,
    registry: str,
) -> None:
    wrong = [
        what
        for what, ok in (
            ("grant", receipt.grant_id == asked.grant_id == grant.grant_id),
            ("caller", receipt.caller == to_checksum_address(member)),
            ("fields", receipt.fields == tuple(sorted(set(asked.fields)))),
            ("purpose", receipt.purpose == asked.purpose),
            ("chain", receipt.chain_id == chain_id),
            ("registry", receipt.consent_registry == to_checksum_address(registry)),
            ("attestation", receipt.attestation_id == grant.grant.attestation_id),
            ("attestation", receipt.attestation_id == attestation.attestation_id),
            ("attester", receipt.attester == attestation.attester),
            ("mode", receipt.mode is grant.grant.mode),
        )
        if not ok
    ]
    if wrong:
        raise ReleaseMismatch(
            f"the receipt {receipt.receipt_id} does not match the request: its {wrong[0]} differs"
        )


@dataclass(frozen=True)
class Opened:
    """An account opened on a reused identity: its agreement (a draft until the parties sign,
    or accepted) and the reliance recorded for it."""

    agreement: AgreementVersion
    reliance: Reliance


#: The agreement side the desk needs (``EvidenceService.create_agreement``).
CreateAgreement = Callable[..., AgreementVersion]
#: Finds the consent contracts (the relay's ``contracts``).
FindContracts = Callable[[], tuple[IdentityAttestationsContract, ConsentRegistryContract]]


class ReuseDesk:
    """Member ``member``'s reuse of other members' KYC, in its service; thread-safe."""

    def __init__(
        self,
        *,
        database: Database,
        create_agreement: CreateAgreement,
        find_contracts: FindContracts,
        member: str,
        disclosure_key: SM2PrivateKey,
        request_key: SM2PrivateKey,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = database
        self._create = create_agreement
        self._find = find_contracts
        self.member = to_checksum_address(member)
        self._disclosure_key = disclosure_key
        self._request_key = request_key
        self._timeout_s = timeout_s
        self._transport = transport
        self._now = now

    @property
    def disclosure_public_key(self) -> SM2PublicKey:
        """The key releases are encrypted to (registered on chain for disclosure-receiving)."""
        return self._disclosure_key.public_key()

    # -- ask the attester ------------------------------------------------------------------

    def request_release(self, attester_url: str, asked: ReleaseAsked) -> Mapping[str, object]:
        """The attester's 201 reply to a signed release request; :class:`AttesterRefused`
        with its problem otherwise, :class:`AttesterUnreachable` if it did not answer."""
        client = LedgerClient(
            base_url=attester_url,
            key=self._request_key,
            timeout_s=self._timeout_s,
            transport=self._transport,
        )
        try:
            with client:
                reply = client.post(releases_path(asked.grant_id), json=asked.body())
        except httpx.HTTPError as exc:
            raise AttesterUnreachable(f"the attester at {attester_url}: {exc}") from exc
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.status_code != 201:
            problem = body if isinstance(body, dict) else {}
            kind = str(problem.get("type", "")).rsplit(":", 1)[-1] or "unknown"
            raise AttesterRefused(reply.status_code, kind, str(problem.get("detail", reply.text)))
        if not isinstance(body, dict):
            raise ReleaseMismatch("the attester's reply is not a JSON object")
        return body

    # -- open and check --------------------------------------------------------------------

    def check(self, reply: Mapping[str, object], asked: ReleaseAsked) -> CheckedRelease:
        """:func:`check_released` against the chain as it is now and the feed's ends."""
        attestations, registry = self._find()
        grant = registry.grant(asked.grant_id)
        attestation = attestations.attestation(grant.grant.attestation_id)
        client = registry.client
        latest = client.json_rpc("eth_getBlockByNumber", "latest", False)
        return check_released(
            reply,
            asked=asked,
            member=self.member,
            key=self._disclosure_key,
            attestation=attestation,
            grant=grant,
            revocations=registry.revocations_of(asked.grant_id),
            now=int(latest["timestamp"], 16),
            chain_id=client.chain_id,
            registry=registry.address,
            ended=self._db.lifecycle_ends(
                attestation_id=attestation.attestation_id, grant_id=asked.grant_id
            ),
        )

    # -- open the account ------------------------------------------------------------------

    def open_account(
        self,
        caller: Caller,
        checked: CheckedRelease,
        *,
        terms: Document,
        readers: Sequence[SM2PublicKey] | None = None,
        agreement_id: str | None = None,
        signatures: Sequence[Signature] | None = None,
    ) -> Opened:
        """The account agreement on ``checked`` (its document: ``terms`` and what it relied on)
        and its reliance. Without ``signatures`` a draft readable by ``readers`` (default: the
        customer's key the attestation binds and the caller's key); with every signature
        accepted at once, the customer's signed with the key the attestation binds. Only a
        broker of this member opens one."""
        self._check_own_broker(caller)
        customer_key = checked.attestation.customer_key
        if signatures is not None:
            signers = [s.public_key for s in signatures if s.role == "customer"]
            if signers and signers != [customer_key]:
                raise ReleaseMismatch(
                    "the customer signs the account with the key the attestation binds"
                )
        attestations, _ = self._find()
        document = account_opening(
            terms, ReliedOn(receipt=checked.receipt, attestations=attestations.address)
        )
        if signatures is None and readers is None:
            readers = [customer_key, caller.public_key]
        agreement = self._create(
            document,
            readers=readers,
            agreement_id=agreement_id,
            signatures=signatures,
            caller=caller,
        )
        receipt = checked.receipt
        reliance = self._db.record_reliance(
            Reliance(
                agreement_id=agreement.agreement_id,
                attestation_id=receipt.attestation_id,
                grant_id=receipt.grant_id,
                receipt_id=receipt.receipt_id,
                attester=receipt.attester,
                member=self.member,
                fields=receipt.fields,
                relied_at=canonical.whole_seconds(self._now()),
                expires_at=datetime.fromtimestamp(checked.attestation.expires_at, UTC),
            )
        )
        return Opened(agreement=agreement, reliance=reliance)

    def reuse(
        self,
        caller: Caller,
        *,
        attester_url: str,
        asked: ReleaseAsked,
        terms: Document,
        readers: Sequence[SM2PublicKey] | None = None,
    ) -> Opened:
        """Ask, check and open the account (a draft for the parties to sign)."""
        self._check_own_broker(caller)
        checked = self.check(self.request_release(attester_url, asked), asked)
        return self.open_account(caller, checked, terms=terms, readers=readers)

    # -- reading -----------------------------------------------------------------------------

    def reliances(
        self, caller: Caller, *, start: datetime, end: datetime, affected: bool = False
    ) -> list[Reliance]:
        """The reliances recorded in ``[start, end)`` (``affected``: only those needing
        re-verification), for auditors, the regulator and the member itself."""
        self._check_reader(caller)
        found = self._db.reliances_between(start, end)
        if affected:
            found = [r for r in found if r.reason is not None]
        return found

    def affected(self, caller: Caller) -> list[Reliance]:
        """Every reliance that needs the customer verified again, oldest first."""
        self._check_reader(caller)
        return self._db.affected_reliances()

    def _own(self, caller: Caller) -> bool:
        return caller.member_id.lower() == self.member.lower()

    def _check_own_broker(self, caller: Caller) -> None:
        if Role.BROKER not in caller.roles or not self._own(caller):
            raise Forbidden(
                f"accounts on a reused identity are opened by brokers of member {self.member},"
                f" which runs this service; {caller.member_id!r} is not one"
            )

    def _check_reader(self, caller: Caller) -> None:
        if READER_ROLES & caller.roles or (Role.CUSTOMER not in caller.roles and self._own(caller)):
            return
        raise Forbidden(
            f"reliances are read by auditors, the regulator and member {self.member} itself;"
            f" {caller.member_id!r} is none of them"
        )
