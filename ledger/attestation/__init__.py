"""Identity attestations: what a member that verified a customer (KYC) commits to, field by field.

* :mod:`ledger.attestation.disclosure` — :class:`Disclosure`: one KYC field as an RFC 9901
  (SD-JWT) Disclosure ``[salt, name, value]`` with its SM3 digest, released on its own and
  checked against the digest the attestation holds.
"""

from ledger.attestation.disclosure import (
    FIELD_NAME,
    Disclosure,
    DisclosureError,
    digest_of,
)

__all__ = ["FIELD_NAME", "Disclosure", "DisclosureError", "digest_of"]
