"""SM2 signatures over agreements: who signed, in which role, when, with which key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ledger import canonical
from ledger.agreement import SigningDomain, SigningPayload, SigningPayloadV0, check_role
from ledger.crypto.errors import InvalidSignature
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey, SM2PublicKey
from ledger.crypto.sm3 import sm3 as sm3_digest

ALGORITHM = "sm2-sm3"

#: What a signature can cover: the current payload, or v0 for ``ledger-proof/0`` files.
Payload = SigningPayload | SigningPayloadV0


@dataclass(frozen=True)
class Signature:
    role: str
    signed_at: datetime
    public_key: SM2PublicKey
    value: bytes  # DER SEQUENCE{r, s}
    distid: bytes = DEFAULT_DISTID

    @property
    def key_fingerprint(self) -> bytes:
        return self.public_key.fingerprint()

    def to_json(self) -> dict[str, str]:
        return {
            "algorithm": ALGORITHM,
            "role": self.role,
            "signed_at": canonical.timestamp(self.signed_at),
            "public_key": canonical.hex0x(self.public_key.to_raw()),
            "key_fingerprint": canonical.label("sm3", self.key_fingerprint),
            "distid": self.distid.decode("ascii"),
            "signature": canonical.b64(self.value),
        }

    def verify(self, payload: Payload) -> None:
        """Raise InvalidSignature unless this signature covers ``payload`` (role, time included)."""
        if payload.role != self.role or payload.signed_at != self.signed_at:
            raise InvalidSignature(f"signature of {self.role!r} is for another role or time")
        self.public_key.verify(self.value, payload.to_bytes(), distid=self.distid)


def sign(key: SM2PrivateKey, payload: Payload, *, distid: bytes = DEFAULT_DISTID) -> Signature:
    check_role(payload.role)
    return Signature(
        role=payload.role,
        signed_at=payload.signed_at,
        public_key=key.public_key(),
        value=key.sign(payload.to_bytes(), distid=distid),
        distid=distid,
    )


def payload_for(template: Payload, *, role: str, signed_at: datetime) -> Payload:
    return replace(template, role=role, signed_at=signed_at)


def signature_set_digest(signatures: Sequence[Signature]) -> bytes:
    """SM3 over the canonical JSON list of the signatures, in the order given.

    ``ledger-proof/0`` lists them in signing order; agreement versions (leaf entries,
    ``ledger-proof/1``) list them in role order (:func:`in_role_order`)."""
    return sm3_digest(canonical.dumps([s.to_json() for s in signatures]))


def in_role_order(signatures: Sequence[Signature]) -> list[Signature]:
    return sorted(signatures, key=lambda s: s.role)


def sign_version(
    keys: Mapping[str, SM2PrivateKey],
    *,
    domain: SigningDomain,
    agreement_id: str,
    version: int,
    document_sm3: bytes,
    signed_at: datetime,
    distid: bytes = DEFAULT_DISTID,
) -> list[Signature]:
    """What the parties do: each (role -> key) signs the payload of one agreement version."""
    return [
        sign(
            key,
            SigningPayload(
                agreement_id=agreement_id,
                agreement_version=version,
                document_sm3=document_sm3,
                role=role,
                signed_at=signed_at,
                domain=domain,
            ),
            distid=distid,
        )
        for role, key in keys.items()
    ]
