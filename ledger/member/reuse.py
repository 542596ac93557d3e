"""Member B's side of identity reuse: ask the attester for a customer's fields under a grant,
check what came back, open the account on it and record the reliance.

Two halves, so the rule can be checked without the attester's service:

* **ask** (:meth:`ReuseDesk.request_release`): a signed request (RFC 9421, with the key this
  member registered for request-signing, :class:`~ledger.client.LedgerClient`) to ``POST
  /v1/consents/{grant_id}/releases`` on the attester's service; its refusals come back as
  :class:`AttesterRefused` (status and problem type as the attester gave them);
* **open and check** (:func:`~ledger.member.released.check_released`, pure, and
  :meth:`ReuseDesk.check`, which reads the chain and the lifecycle feed's record first): the
  envelope opened with this member's ``disclosure-receiving`` key, the receipt naming exactly
  this request, each Disclosure the one the attestation on chain commits to, the attestation
  and grant valid now by the chain and by what this member's lifecycle feed saw end (the
  checks are listed in :mod:`ledger.member.released`; its names are re-exported here).

Then :meth:`ReuseDesk.open_account` creates the account agreement, whose document records what
it relied on (:mod:`ledger.member.account_opening`), and the reliance row
(:class:`~ledger.db.Reliance`), which the lifecycle feed marks when the attestation or grant
ends (:mod:`ledger.member.lifecycle`). Reliances are read by auditors, the regulator and the
member itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from eth_utils.address import to_checksum_address

from ledger import canonical
from ledger.agreement import AgreementVersion, Document
from ledger.attestation.disclosure import DisclosureError
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract
from ledger.chain.errors import StateConflict
from ledger.client import LedgerClient
from ledger.consent.envelope import EnvelopeError
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.db import Database, Reliance
from ledger.httpsig import Caller
from ledger.member.access import READER_ROLES, Forbidden, Role
from ledger.member.account_opening import ReliedOn, account_opening
from ledger.member.consents import ConsentNotFound
from ledger.member.released import (
    AttesterRefused,
    AttesterUnreachable,
    CheckedRelease,
    ReleaseAsked,
    ReleaseMismatch,
    RelianceRefused,
    ReuseError,
    check_released,
    releases_path,
)
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
        disclosure_key: Callable[[], SM2PrivateKey],
        request_key: Callable[[], SM2PrivateKey],
        endpoint_of: Callable[[str], str] | None = None,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``disclosure_key`` and ``request_key`` load this member's keys (asked once, when
        first needed); ``endpoint_of`` gives a member's service URL (the consortium's record
        of its endpoint) for a reuse that names no attester URL."""
        self._db = database
        self._create = create_agreement
        self._find = find_contracts
        self.member = to_checksum_address(member)
        self._disclosure_key = functools.cache(disclosure_key)
        self._request_key = functools.cache(request_key)
        self._endpoint_of = endpoint_of
        self._timeout_s = timeout_s
        self._transport = transport
        self._now = now

    @property
    def disclosure_public_key(self) -> SM2PublicKey:
        """The key releases are encrypted to (registered on chain for disclosure-receiving)."""
        return self._disclosure_key().public_key()

    # -- ask the attester ------------------------------------------------------------------

    def request_release(self, attester_url: str, asked: ReleaseAsked) -> Mapping[str, object]:
        """The attester's 201 reply to a signed release request; :class:`AttesterRefused`
        with its problem otherwise, :class:`AttesterUnreachable` if it did not answer."""
        client = LedgerClient(
            base_url=attester_url,
            key=self._request_key(),
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
            key=self._disclosure_key(),
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
        asked: ReleaseAsked,
        terms: Document,
        attester_url: str | None = None,
        readers: Sequence[SM2PublicKey] | None = None,
    ) -> Opened:
        """Ask the attester (at ``attester_url``, default: the endpoint the consortium records
        for the grant's attester), check and open the account (a draft for the parties to
        sign). What the attester sent that does not open or check is a
        :class:`ReleaseMismatch`; an unknown grant a
        :class:`~ledger.member.consents.ConsentNotFound`."""
        self._check_own_broker(caller)
        if attester_url is None:
            attestations, registry = self._find()
            try:
                grant = registry.grant(asked.grant_id)
            except StateConflict as exc:
                if exc.error == "ConsentRegistry__UnknownGrant":
                    raise ConsentNotFound(f"no grant 0x{asked.grant_id.hex()}") from None
                raise
            attester = attestations.attestation(grant.grant.attestation_id).attester
            if self._endpoint_of is None:
                raise ReuseError(f"no attester URL given and none known for {attester}")
            attester_url = self._endpoint_of(attester)
        reply = self.request_release(attester_url, asked)
        try:
            checked = self.check(reply, asked)
        except (EnvelopeError, DisclosureError) as exc:
            raise ReleaseMismatch(f"the attester's release does not check: {exc}") from exc
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
