"""What a customer signs to have an agreement's documents erased (crypto-shredded): the
erasure request, a domain-separated payload like the agreement's signing payload.

Payload ``ledger/erasure-request`` version 1 (canonical JSON, RFC 8785): the agreement ID, the
chain ID and contract (the signing domain), a fresh ``nonce`` and the time of the request. The
customer signs it with SM2 (the key that signed the agreement as ``customer``); the service
accepts it once, within the signing window (:class:`~ledger.agreement.SigningWindow`), and
remembers its nonce for that window (a replay is refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger import canonical
from ledger._ids import NONCE
from ledger.agreement._payload import AgreementError, SigningDomain, check_agreement_id
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey, SM2PublicKey


def check_nonce(nonce: str) -> str:
    if not isinstance(nonce, str) or not NONCE.match(nonce):
        raise AgreementError("a nonce is 16-128 characters of base64, base64url or hex")
    return nonce


@dataclass(frozen=True)
class ErasureRequest:
    """A customer's request to erase an agreement's documents (what the customer signs)."""

    agreement_id: str
    nonce: str
    requested_at: datetime
    domain: SigningDomain

    TYPE = "ledger/erasure-request"
    VERSION = 1

    def to_bytes(self) -> bytes:
        return canonical.dumps(
            {
                "type": self.TYPE,
                "version": self.VERSION,
                "agreement_id": check_agreement_id(self.agreement_id),
                "chain_id": self.domain.chain_id,
                "contract": self.domain.contract,
                "nonce": check_nonce(self.nonce),
                "requested_at": canonical.timestamp(self.requested_at),
            }
        )

    def sign(self, key: SM2PrivateKey, *, distid: bytes = DEFAULT_DISTID) -> SignedErasure:
        """The customer's side: sign this request."""
        return SignedErasure(
            request=self,
            public_key=key.public_key(),
            signature=key.sign(self.to_bytes(), distid=distid),
            distid=distid,
        )


@dataclass(frozen=True)
class SignedErasure:
    """An erasure request with the customer's SM2 signature (DER) over its payload."""

    request: ErasureRequest
    public_key: SM2PublicKey
    signature: bytes
    distid: bytes = DEFAULT_DISTID

    def verify(self) -> None:
        """Raise :class:`~ledger.crypto.errors.InvalidSignature` unless the signature covers the
        request's payload under ``public_key``."""
        self.public_key.verify(self.signature, self.request.to_bytes(), distid=self.distid)
