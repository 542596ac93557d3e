"""Account agreements, the domain: what an agreement is and the rules it follows.

* formats (:mod:`ledger.agreement._payload`): agreement IDs, roles and versions
  (:func:`check_agreement_id`, :func:`check_role`, :func:`check_version`), the
  :class:`Document`, the :class:`SigningDomain`, what each party signs (:class:`SigningPayload`,
  v0 :class:`SigningPayloadV0`) and the Merkle :class:`LeafEntry` of an accepted version;
* records (:mod:`ledger.agreement._records`): :class:`AgreementVersion` with its
  :class:`SignatureRecord` s, :class:`VersionKind`, :class:`VersionStatus`;
* rules (:mod:`ledger.agreement._rules`), each written once and asked by the service, the
  database checks, the API and the CLI: the limits (:data:`REQUIRED_ROLES`,
  :data:`MAX_SIGNERS`, :data:`MAX_DOCUMENT_BYTES`, ...), which version may come next
  (:func:`version_refusal`), who may sign (:func:`signer_refusal`,
  :func:`signature_set_refusal`), the agreement's state (:class:`Agreement`,
  :class:`AgreementState`), when a signature may have been made (:class:`SigningWindow`) and
  the document of a void (:func:`void_notice`).

Errors: :class:`AgreementError` (malformed input), :class:`SigningTimeOutOfWindow`.
"""

from ledger.agreement._erasure import ErasureRequest, SignedErasure, check_nonce
from ledger.agreement._payload import (
    DEFAULT_MEDIA_TYPE,
    MAX_VERSION,
    AgreementError,
    Document,
    LeafEntry,
    SigningDomain,
    SigningPayload,
    SigningPayloadV0,
    check_agreement_id,
    check_role,
    check_version,
    new_agreement_id,
)
from ledger.agreement._records import (
    VERSION_KINDS,
    VERSION_STATUSES,
    AgreementVersion,
    ErasureMethod,
    ErasureRecord,
    SignatureRecord,
    VersionKind,
    VersionStatus,
)
from ledger.agreement._rules import (
    MAX_DOCUMENT_BYTES,
    MAX_MEDIA_TYPE_CHARS,
    MAX_REASON_CHARS,
    MAX_SIGNERS,
    REQUIRED_ROLES,
    VOID_MEDIA_TYPE,
    Agreement,
    AgreementState,
    LatestVersion,
    SigningTimeOutOfWindow,
    SigningWindow,
    check_document,
    check_required_roles,
    next_version,
    owner_refusal,
    party_refusal,
    signature_set_refusal,
    signer_keys_refusal,
    signer_refusal,
    version_refusal,
    void_notice,
)

__all__ = [
    "DEFAULT_MEDIA_TYPE",
    "MAX_DOCUMENT_BYTES",
    "MAX_MEDIA_TYPE_CHARS",
    "MAX_REASON_CHARS",
    "MAX_SIGNERS",
    "MAX_VERSION",
    "REQUIRED_ROLES",
    "VERSION_KINDS",
    "VERSION_STATUSES",
    "VOID_MEDIA_TYPE",
    "Agreement",
    "AgreementError",
    "AgreementState",
    "AgreementVersion",
    "Document",
    "ErasureMethod",
    "ErasureRecord",
    "ErasureRequest",
    "LatestVersion",
    "LeafEntry",
    "SignatureRecord",
    "SignedErasure",
    "SigningDomain",
    "SigningPayload",
    "SigningPayloadV0",
    "SigningTimeOutOfWindow",
    "SigningWindow",
    "VersionKind",
    "VersionStatus",
    "check_agreement_id",
    "check_document",
    "check_nonce",
    "check_required_roles",
    "check_role",
    "check_version",
    "new_agreement_id",
    "next_version",
    "owner_refusal",
    "party_refusal",
    "signature_set_refusal",
    "signer_keys_refusal",
    "signer_refusal",
    "version_refusal",
    "void_notice",
]
