"""What the evidence service refuses, each meaning one kind of answer at the HTTP edge."""

from __future__ import annotations

from ledger.errors import LedgerError


class ServiceError(LedgerError):
    """Root of the service's errors."""


class AgreementNotFound(ServiceError):
    """No such agreement or version."""


class AgreementConflict(ServiceError):
    """The request contradicts the agreement's state (wrong version, already signed, void...)."""


class SignatureRejected(ServiceError):
    """A signature does not verify over the payload it must cover; nothing was stored."""


class NotAnchoredYet(ServiceError):
    """The version is accepted but its batch is not anchored yet: no proof to hand out."""


class ProofRefused(AgreementConflict):
    """The version's proof cannot be issued: a key the registry holds for it was not valid when
    it signed (revoked or ended before), so the registry rejects that signature."""


class ServiceUnavailable(ServiceError):
    """The service is stopping or its database failed: nothing was acknowledged."""


class SigningTimeRejected(SignatureRejected):
    """A signature's time is outside the signing window (too old, or too far ahead of the
    service's clock); nothing was stored."""
