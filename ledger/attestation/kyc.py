"""From a verified customer's KYC fields to what the chain holds, and back for a receiver.

The attester (member A) turns the fields it verified into one Disclosure each
(:func:`prepare`): their SM3 digests and name IDs go on chain in the attestation, the encoded
Disclosures themselves into the content store, encrypted (:func:`disclosures_document` is the
plaintext). The subject on chain is a salted commitment to the customer's identity document
(:func:`subject_commitment`): no personal data, and two members' commitments to one customer,
each with its own salt, cannot be linked without the customer.

The receiver (member B) checks what it was released against the attestation on chain with
:func:`check_disclosures`: every Disclosure must be one the attestation commits to, by name and
digest; it returns the fields' values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledger import canonical
from ledger.attestation.disclosure import Disclosure, DisclosureError
from ledger.chain._binding import name_id
from ledger.chain.attestations import Attestation, AttestationInput
from ledger.crypto.sm2 import SM2PublicKey
from ledger.crypto.sm3 import sm3

__all__ = [
    "DISCLOSURES_TYPE",
    "MAX_FIELDS",
    "DisclosureMismatch",
    "PreparedAttestation",
    "check_disclosures",
    "disclosures_document",
    "prepare",
    "read_disclosures_document",
    "subject_commitment",
]

#: The most fields one attestation commits to (the contract's bound).
MAX_FIELDS = 32
#: ``type`` of the plaintext document of an attestation's Disclosures.
DISCLOSURES_TYPE = "ledger/kyc-disclosures"
_SUBJECT_DOMAIN = b"ledger/subject/1\x00"


class DisclosureMismatch(DisclosureError):
    """A released Disclosure the attestation does not commit to (unknown field, other digest,
    a field twice)."""


def subject_commitment(*, id_type: str, id_number: str, salt: bytes) -> bytes:
    """SM3 over a domain tag, the 16+ byte ``salt`` and the canonical identity document
    reference: what the chain holds as the attestation's subject."""
    if len(salt) < 16:
        raise DisclosureError("a subject salt is at least 16 bytes")
    if not id_type or not id_number:
        raise DisclosureError("a subject names its identity document type and number")
    document = canonical.dumps({"id_type": id_type, "id_number": id_number})
    return sm3(_SUBJECT_DOMAIN + salt + document)


@dataclass(frozen=True)
class PreparedAttestation:
    """The Disclosures of a customer's fields, ready to store (encrypted) and attest."""

    disclosures: tuple[Disclosure, ...]

    def attestation_input(
        self,
        *,
        subject: bytes,
        customer_key: SM2PublicKey,
        level: str,
        method: str,
        verified_at: int,
        expires_at: int,
        content_ref: bytes,
        nonce: bytes | None = None,
    ) -> AttestationInput:
        """The contract's input: names as IDs, each field's SM3 digest, in field order."""
        return AttestationInput(
            subject=subject,
            customer_key=customer_key,
            level=name_id(level),
            method=name_id(method),
            verified_at=verified_at,
            expires_at=expires_at,
            field_names=tuple(name_id(d.name) for d in self.disclosures),
            field_digests=tuple(d.digest() for d in self.disclosures),
            content_ref=content_ref,
            nonce=nonce if nonce is not None else os.urandom(32),
        )

    def select(self, names: Sequence[str]) -> tuple[Disclosure, ...]:
        """The Disclosures of ``names`` (what a release sends), in the order asked."""
        by_name = {d.name: d for d in self.disclosures}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DisclosureError(f"no attested field {missing[0]!r}")
        return tuple(by_name[n] for n in names)


def prepare(fields: Mapping[str, object]) -> PreparedAttestation:
    """One fresh Disclosure per field (1 to :data:`MAX_FIELDS`, names as
    :data:`~ledger.attestation.disclosure.FIELD_NAME` says)."""
    if not 1 <= len(fields) <= MAX_FIELDS:
        raise DisclosureError(f"an attestation commits to 1-{MAX_FIELDS} fields")
    return PreparedAttestation(tuple(Disclosure.new(n, v) for n, v in fields.items()))


def disclosures_document(prepared: PreparedAttestation) -> bytes:
    """The plaintext the content store keeps (encrypted): canonical JSON of the encoded
    Disclosures, in field order."""
    return canonical.dumps(
        {
            "type": DISCLOSURES_TYPE,
            "version": 1,
            "disclosures": [d.encoded for d in prepared.disclosures],
        }
    )


def read_disclosures_document(data: bytes) -> PreparedAttestation:
    """The Disclosures :func:`disclosures_document` wrote; :class:`DisclosureError` otherwise."""
    try:
        document = canonical.loads_canonical(data)
    except canonical.EncodingError as exc:
        raise DisclosureError(f"not a disclosures document: {exc}") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"type", "version", "disclosures"}
        or document["type"] != DISCLOSURES_TYPE
        or document["version"] != 1
        or not isinstance(document["disclosures"], list)
    ):
        raise DisclosureError(f"not a {DISCLOSURES_TYPE} v1 document")
    return PreparedAttestation(tuple(Disclosure.parse(e) for e in document["disclosures"]))


def check_disclosures(attestation: Attestation, encoded: Sequence[str]) -> dict[str, object]:
    """The values of the released Disclosures ``encoded``, each checked against the
    attestation: its name attested, its SM3 digest the attested one, no field twice.
    :class:`DisclosureMismatch` (or :class:`DisclosureError` for one that is not a Disclosure)
    names the first that fails."""
    values: dict[str, object] = {}
    for text in encoded:
        disclosure = Disclosure.parse(text)
        if disclosure.name in values:
            raise DisclosureMismatch(f"field {disclosure.name!r} is disclosed twice")
        attested = attestation.field_digest(name_id(disclosure.name))
        if attested is None:
            raise DisclosureMismatch(
                f"attestation 0x{attestation.attestation_id.hex()} has no field {disclosure.name!r}"
            )
        if not disclosure.matches(attested):
            raise DisclosureMismatch(
                f"the disclosure of {disclosure.name!r} is not the one attestation"
                f" 0x{attestation.attestation_id.hex()} commits to ({disclosure.label})"
            )
        values[disclosure.name] = disclosure.value
    return values
