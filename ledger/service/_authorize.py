"""How the evidence service asks the access policy (:mod:`ledger.member.access`) and the
party rules (:mod:`ledger.agreement`) about a call, before anything changes.

A ``caller`` of ``None`` is the service's own process (the demo, benchmarks, tools): trusted,
owning nothing. The HTTP API always passes the verified :class:`~ledger.httpsig.Caller`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from ledger import canonical
from ledger.agreement import (
    Agreement,
    AgreementVersion,
    SignedErasure,
    SigningDomain,
    SigningTimeOutOfWindow,
    SigningWindow,
    party_refusal,
)
from ledger.crypto.errors import CryptoError
from ledger.httpsig import Caller, KeyDirectory, NonceStore, default_keyid
from ledger.member import Action, NotVisible, Role, check_agreement_access, check_create
from ledger.service.errors import AgreementNotFound, SignatureRejected
from ledger.signature import Signature

#: The nonce store's keyid of a customer's erasure requests (apart from its request nonces).
ERASURE_NONCE_PREFIX = "erasure:"


class Authorization:
    """The service's questions about callers and signers (one per service)."""

    def __init__(
        self,
        *,
        directory: KeyDirectory | None,
        nonces: NonceStore,
        domain: SigningDomain,
        window: SigningWindow,
        now: Callable[[], datetime],
    ) -> None:
        self._directory = directory
        self._nonces = nonces
        self._domain = domain
        self._window = window
        self._now = now

    @staticmethod
    def create(caller: Caller | None) -> str | None:
        """May ``caller`` create agreements; the owner they get (its member)."""
        if caller is None:
            return None
        check_create(caller)
        return caller.member_id

    @staticmethod
    def agreement(
        caller: Caller | None,
        action: Action,
        agreement_id: str,
        versions: Iterable[AgreementVersion],
        *,
        not_found: str | None = None,
    ) -> None:
        """Allow ``action`` on the agreement whose stored ``versions`` are given, or refuse:
        :class:`~ledger.member.Forbidden`, or :class:`AgreementNotFound` in the very words a
        missing agreement gets (``not_found``; default ``no agreement <id>``)."""
        if caller is None:
            return
        listed = list(versions)
        owner = listed[0].owner if listed else None
        customer_keys = [k for v in listed if (k := v.signer_key("customer")) is not None]
        try:
            check_agreement_access(
                caller, action, agreement_id=agreement_id, owner=owner, customer_keys=customer_keys
            )
        except NotVisible:
            raise AgreementNotFound(not_found or f"no agreement {agreement_id}") from None

    def parties(self, agreement: Agreement, version: int, signatures: Sequence[Signature]) -> None:
        """Once a version is in force, refuse (:class:`SignatureRejected`) signatures of a later
        version by others than its parties (:func:`~ledger.agreement.party_refusal`)."""
        in_force = agreement.in_force
        for signature in signatures:
            refusal = party_refusal(
                agreement.agreement_id,
                version,
                signature.role,
                signature.public_key.to_raw(),
                in_force=in_force,
                owner=agreement.owner,
                key_member=self._broker_member(signature),
            )
            if refusal is not None:
                raise SignatureRejected(refusal)

    def _broker_member(self, signature: Signature) -> str | None:
        """The member whose broker key ``signature`` was made with, if the directory holds it
        valid now (keys are named by their SM3 fingerprint, as the registry names them)."""
        if self._directory is None or signature.role != Role.BROKER:
            return None
        now = self._now()
        entry = self._directory.lookup(default_keyid(signature.public_key), now)
        if entry is None or not entry.valid_at(now) or Role.BROKER not in entry.roles:
            return None
        if entry.public_key != signature.public_key:
            return None
        return entry.member_id

    def erasure_request(self, erasure: SignedErasure) -> None:
        """Refuse (:class:`SignatureRejected`) a customer-signed erasure request for another
        signing domain, outside the signing window, or whose signature does not verify: judged
        without the agreement, so the answer tells nothing of it."""
        request = erasure.request
        if request.domain != self._domain:
            raise SignatureRejected(
                f"the erasure request is for chain {request.domain.chain_id} /"
                f" {request.domain.contract}, not {self._domain.chain_id} /"
                f" {self._domain.contract}"
            )
        now = self._now()
        try:
            self._window.check(request.requested_at, now=now)
        except SigningTimeOutOfWindow as error:
            raise SignatureRejected(f"the erasure request: {error}") from error
        try:
            erasure.verify()
        except CryptoError as error:
            raise SignatureRejected(
                f"the erasure request's signature does not verify: {error}"
            ) from error

    def customer_erasure(
        self, caller: Caller | None, erasure: SignedErasure, agreement: Agreement
    ) -> None:
        """Accept a customer-signed erasure request (checked by :meth:`erasure_request`) once:
        for this agreement, signed by a key that signed it as ``customer``, its nonce not seen
        within the window. Refusals: :class:`SignatureRejected`, or :class:`AgreementNotFound`
        if the relaying caller may not see the agreement and the key is not its customer's
        (nothing is told about an agreement one cannot see)."""
        request = erasure.request
        agreement_id = agreement.agreement_id
        if request.agreement_id != agreement_id:
            raise SignatureRejected(
                f"the erasure request is for {request.agreement_id}, not for {agreement_id}"
            )
        now = self._now()
        key = erasure.public_key.to_raw()
        customers = {v.signer_key("customer") for v in agreement.versions if v.accepted_at}
        if key not in customers:
            self.agreement(caller, Action.READ, agreement_id, agreement.versions)
            raise SignatureRejected(
                f"the erasure request of {agreement_id} is not signed by its customer's key"
            )
        expires = request.requested_at + self._window.max_age + self._window.max_skew
        keyid = ERASURE_NONCE_PREFIX + canonical.label("sm3", erasure.public_key.fingerprint())
        if expires <= request.requested_at or not self._nonces.remember_nonce(
            keyid, request.nonce, created_at=request.requested_at, expires_at=expires, now=now
        ):
            raise SignatureRejected(
                f"the erasure request's nonce {request.nonce!r} was used already: a replay"
            )
