"""Why a request's signature was refused: one class per reason, under one root.

Every refusal of :class:`~ledger.httpsig.RequestVerifier` is a :class:`RequestSignatureError`
(itself a :class:`~ledger.errors.LedgerError`), so the HTTP API translates it once into a 401
problem whose ``type`` names the reason (``urn:ledger:problem:<kind>``, :attr:`kind`).
"""

from __future__ import annotations

from typing import ClassVar

from ledger.errors import LedgerError


class RequestSignatureError(LedgerError):
    """Root of the refusals of a request signature (RFC 9421); each names its problem kind."""

    kind: ClassVar[str] = "signature-invalid"


class SignatureMissing(RequestSignatureError):
    """The request carries no ``Signature`` / ``Signature-Input`` field."""

    kind = "signature-missing"


class SignatureMalformed(RequestSignatureError):
    """The signature fields cannot be parsed, carry several signatures, name another algorithm,
    an unexpected parameter or a malformed nonce, or cover a field the request lacks."""

    kind = "signature-malformed"


class ComponentMissing(RequestSignatureError):
    """The signature does not cover a required component (``@method``, ``@target-uri``,
    ``content-digest``) or lacks a required parameter (``created``, ``nonce``, ``keyid``,
    ``alg``)."""

    kind = "signature-incomplete"


class UnknownKey(RequestSignatureError):
    """No registered key has the signature's ``keyid``."""

    kind = "unknown-key"


class KeyNotValid(RequestSignatureError):
    """The ``keyid`` names a registered key that is not valid now (revoked, expired, or not
    valid yet)."""

    kind = "key-not-valid"


class SignatureInvalid(RequestSignatureError):
    """The SM2 signature does not verify over the request's signature base: a wrong key, or a
    changed method, target URI, digest or parameter."""

    kind = "signature-invalid"


class DigestMismatch(RequestSignatureError):
    """The body does not match its ``Content-Digest`` (RFC 9530), or the digest names an
    algorithm that is not accepted."""

    kind = "digest-mismatch"


class SignatureStale(RequestSignatureError):
    """``created`` is older than the accepted window."""

    kind = "signature-stale"


class SignatureFromFuture(RequestSignatureError):
    """``created`` is further ahead of the verifier's clock than the allowed skew."""

    kind = "signature-from-future"


class SignatureExpired(RequestSignatureError):
    """``expires`` has passed."""

    kind = "signature-expired"


class NonceReplayed(RequestSignatureError):
    """The (``keyid``, ``nonce``) pair was already used within its window: a replay."""

    kind = "replayed"
