"""Identity attestations: what a member that verified a customer (KYC) commits to, field by field.

* :mod:`ledger.attestation.disclosure` — :class:`Disclosure`: one KYC field as an RFC 9901
  (SD-JWT) Disclosure ``[salt, name, value]`` with its SM3 digest, released on its own and
  checked against the digest the attestation holds;
* :mod:`ledger.attestation.kyc` — from the attester's verified fields to the attestation's input
  (:func:`prepare`, :func:`subject_commitment`) and, for a receiver, the check of what it was
  released against the attestation on chain (:func:`check_disclosures`);
* :mod:`ledger.attestation.feed` — :class:`LifecycleFeed`: attestations made, revoked and
  superseded, grants recorded and revoked, in chain order, for every member that relies on them.
"""

from ledger.attestation.disclosure import (
    FIELD_NAME,
    Disclosure,
    DisclosureError,
    digest_of,
)
from ledger.attestation.kyc import (
    DisclosureMismatch,
    PreparedAttestation,
    check_disclosures,
    disclosures_document,
    prepare,
    read_disclosures_document,
    subject_commitment,
)

__all__ = [
    "FIELD_NAME",
    "Disclosure",
    "DisclosureError",
    "DisclosureMismatch",
    "PreparedAttestation",
    "check_disclosures",
    "digest_of",
    "disclosures_document",
    "prepare",
    "read_disclosures_document",
    "subject_commitment",
]
