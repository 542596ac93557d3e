"""HTTP Message Signatures (RFC 9421) with SM2: how members sign their calls and how a service
knows who is calling.

* :class:`RequestSigner` adds ``Content-Digest`` (RFC 9530) and an ``sm2-sm3`` signature over
  ``@method``, ``@target-uri`` and ``content-digest`` with ``created``, ``nonce``, ``keyid`` and
  ``alg`` to a request (``ledger.client`` signs every call with it);
* :class:`RequestVerifier` checks one against a :class:`KeyDirectory` and a :class:`NonceStore`
  and returns the :class:`Caller`, or raises a :class:`RequestSignatureError` naming the reason
  (:mod:`ledger.httpsig.errors`).

The signature base, the structured fields and the digests come from the
``http-message-signatures`` package; the ``sm2-sm3`` algorithm over :mod:`ledger.crypto.sm2`
and the policy (required coverage, time window, key window, replay) are ours.
"""

from ledger.httpsig._algorithm import ALGORITHM_ID, SM2_SM3, SHA256ContentDigest, SM3ContentDigest
from ledger.httpsig._message import REQUIRED_COMPONENTS, REQUIRED_PARAMETERS
from ledger.httpsig.errors import (
    ComponentMissing,
    DigestMismatch,
    KeyNotValid,
    NonceReplayed,
    RequestSignatureError,
    SignatureExpired,
    SignatureFromFuture,
    SignatureInvalid,
    SignatureMalformed,
    SignatureMissing,
    SignatureStale,
    UnknownKey,
)
from ledger.httpsig.keys import Caller, KeyDirectory, KeyTable, RegisteredKey, default_keyid
from ledger.httpsig.sign import SIGNATURE_LABEL, RequestSigner
from ledger.httpsig.verify import ACCEPT_SIGNATURE, NonceStore, RequestVerifier

__all__ = [
    "ACCEPT_SIGNATURE",
    "ALGORITHM_ID",
    "REQUIRED_COMPONENTS",
    "REQUIRED_PARAMETERS",
    "SIGNATURE_LABEL",
    "SM2_SM3",
    "Caller",
    "ComponentMissing",
    "DigestMismatch",
    "KeyDirectory",
    "KeyNotValid",
    "KeyTable",
    "NonceReplayed",
    "NonceStore",
    "RegisteredKey",
    "RequestSignatureError",
    "RequestSigner",
    "RequestVerifier",
    "SHA256ContentDigest",
    "SM3ContentDigest",
    "SignatureExpired",
    "SignatureFromFuture",
    "SignatureInvalid",
    "SignatureMalformed",
    "SignatureMissing",
    "SignatureStale",
    "UnknownKey",
    "default_keyid",
]
