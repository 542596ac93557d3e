"""What plugs into ``http-message-signatures``: the ``sm2-sm3`` algorithm and the digests.

* ``sm2-sm3`` (a private algorithm name, RFC 9421 §6.2.2 leaves room for them): GB/T 32918.2
  SM2 with SM3 over the signature base, ``Z_A`` computed with the default distinguishing ID
  ``1234567812345678`` (GB/T 35276), the signature a DER ``SEQUENCE{r, s}`` as GM/T 0009
  encodes it and as ``openssl pkeyutl -sign`` writes it. The ID and the encoding are part of the
  name, as RFC 9421's own algorithms fix their parameters.
* ``Content-Digest`` (RFC 9530): the package's SHA-256 / SHA-512 and a private ``sm3``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from http_message_signatures import ContentDigest, HTTPSignatureAlgorithm
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey, SM2PublicKey
from ledger.crypto.sm3 import SM3Hasher

ALGORITHM_ID = "sm2-sm3"


class SM2_SM3(HTTPSignatureAlgorithm):  # named like the package's own (ECDSA_P256_SHA256)
    """SM2 with SM3 over the RFC 9421 signature base; keys are :mod:`ledger.crypto.sm2` keys."""

    algorithm_id = ALGORITHM_ID
    distid: ClassVar[bytes] = DEFAULT_DISTID

    def __init__(
        self, public_key: SM2PublicKey | None = None, private_key: SM2PrivateKey | None = None
    ) -> None:
        if public_key is not None and not isinstance(public_key, SM2PublicKey):
            raise HTTPMessageSignaturesException("sm2-sm3 verifies with an SM2PublicKey")
        if private_key is not None and not isinstance(private_key, SM2PrivateKey):
            raise HTTPMessageSignaturesException("sm2-sm3 signs with an SM2PrivateKey")
        self.public_key = public_key
        self.private_key = private_key

    def sign(self, message: bytes) -> bytes:
        if self.private_key is None:
            raise HTTPMessageSignaturesException("sm2-sm3 needs a private key to sign")
        return self.private_key.sign(message, distid=self.distid)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raises :class:`ledger.crypto.errors.InvalidSignature` if it does not verify."""
        if self.public_key is None:
            raise HTTPMessageSignaturesException("sm2-sm3 needs a public key to verify")
        self.public_key.verify(signature, message, distid=self.distid)


class SHA256ContentDigest(ContentDigest):
    """RFC 9530 ``Content-Digest``: writes ``sha-256``; reads ``sha-256``, ``sha-512`` and
    ``sm3`` (every member present must match the body)."""

    algorithm = "sha-256"
    _hashers: ClassVar[dict[str, Any]] = {**ContentDigest._hashers, "sm3": SM3Hasher}


class SM3ContentDigest(SHA256ContentDigest):
    """The same, writing the private ``sm3`` member (SM3 of the content, GB/T 32905)."""

    algorithm = "sm3"


CONTENT_DIGESTS: dict[str, type[SHA256ContentDigest]] = {
    "sha-256": SHA256ContentDigest,
    "sm3": SM3ContentDigest,
}
