"""The document of an account opened on a reused identity: the account's terms and what the
member relied on, in one document the parties sign.

An agreement is a document its parties sign (the customer's and the broker's SM2 signatures
over its SM3 digest, anchored in a Merkle batch, carried by its proof file). The least invasive
way to make the agreement itself record the reliance is therefore its document, as a void's
document records what it voids (:func:`ledger.agreement.void_notice`): no new agreement field,
leaf format or proof format. The document (media type :data:`MEDIA_TYPE`) is canonical JSON
(RFC 8785)::

    {"type": "ledger/account-opening", "version": 1,
     "terms": {"media_type": "...", "content": "<base64>", "digest": "sm3:..."},
     "relied_on": {"attestation_id": "0x..", "attester": "0x..", "attestations": "0x..",
                   "grant_id": "0x..", "consent_registry": "0x..", "chain_id": 1,
                   "receipt_id": "rcpt_..", "receipt_leaf": "sm3:..", "fields": [...],
                   "purpose": "account-opening"}}

``terms`` are the account agreement as the broker wrote it (any media type, kept byte for
byte); ``relied_on`` names the attestation (and its contract), the grant (and its registry and
chain), and the attester's access receipt of the release with its Merkle leaf hash, so anyone
holding the agreement's proof finds the receipt's inclusion in the attester's anchored batch.
No field value is in it: only the names of the fields relied on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger import canonical
from ledger.agreement import AgreementError, Document
from ledger.consent import AccessReceipt

__all__ = ["MEDIA_TYPE", "TYPE", "ReliedOn", "account_opening", "read_account_opening"]

TYPE = "ledger/account-opening"
MEDIA_TYPE = "application/vnd.ledger.account-opening+json"


@dataclass(frozen=True)
class ReliedOn:
    """What an account opened on a reused identity relied on (the document's ``relied_on``)."""

    receipt: AccessReceipt  # the attester's receipt of the release (names grant, fields, ...)
    attestations: str  # the IdentityAttestations contract the attestation ID is scoped to

    def to_json(self) -> dict[str, Any]:
        receipt = self.receipt
        return {
            "attestation_id": canonical.hex0x(receipt.attestation_id),
            "attester": receipt.attester,
            "attestations": self.attestations,
            "grant_id": canonical.hex0x(receipt.grant_id),
            "consent_registry": receipt.consent_registry,
            "chain_id": receipt.chain_id,
            "receipt_id": receipt.receipt_id,
            "receipt_leaf": canonical.label("sm3", receipt.leaf_hash),
            "fields": list(receipt.fields),
            "purpose": receipt.purpose,
        }


def account_opening(terms: Document, relied_on: ReliedOn) -> Document:
    """The agreement document of an account opened on ``relied_on``: ``terms`` and the
    reliance, canonical JSON."""
    content = canonical.dumps(
        {
            "type": TYPE,
            "version": 1,
            "terms": {
                "media_type": terms.media_type,
                "content": base64.b64encode(terms.content).decode("ascii"),
                "digest": canonical.label("sm3", terms.sm3),
            },
            "relied_on": relied_on.to_json(),
        }
    )
    return Document(content, media_type=MEDIA_TYPE)


def read_account_opening(document: Document) -> tuple[Document, dict[str, Any]]:
    """The terms and the ``relied_on`` member of an account-opening document;
    :class:`~ledger.agreement.AgreementError` if it is not one (or its terms' digest is
    wrong)."""
    try:
        value = canonical.loads_canonical(document.content)
    except canonical.EncodingError as exc:
        raise AgreementError(f"not an account-opening document: {exc}") from None
    if (
        document.media_type != MEDIA_TYPE
        or not isinstance(value, Mapping)
        or set(value) != {"type", "version", "terms", "relied_on"}
        or (value["type"], value["version"]) != (TYPE, 1)
        or not isinstance(value["terms"], Mapping)
        or not isinstance(value["relied_on"], Mapping)
    ):
        raise AgreementError(f"not a {TYPE} v1 document")
    terms_json = value["terms"]
    try:
        content = base64.b64decode(terms_json["content"], validate=True)
        terms = Document(content, media_type=terms_json["media_type"])
        stated = terms_json["digest"]
    except (KeyError, TypeError, binascii.Error) as exc:
        raise AgreementError(f"an account-opening document's terms are malformed: {exc}") from None
    if stated != canonical.label("sm3", terms.sm3):
        raise AgreementError("an account-opening document's terms do not match their digest")
    return terms, dict(value["relied_on"])
