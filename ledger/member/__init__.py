"""Members of the consortium as the service sees them: who a caller is and what it may do.

* :mod:`ledger.member.access` — the access policy (:func:`check_create`,
  :func:`check_agreement_access`, :class:`Forbidden`, :class:`NotVisible`), written once;
* :mod:`ledger.member.directory` — :func:`directory_for`: the key directory a running service
  verifies callers against (a members file, or the consortium on chain, and customers);
* :mod:`ledger.member.chain_directory` — :class:`ChainKeyDirectory`: the same answers from the
  on-chain Consortium and KeyRegistry;
* :mod:`ledger.member.consents` — :class:`ConsentRelay`: customers' consents relayed and read;
* :mod:`ledger.member.attestations` — :class:`AttestationDesk`: this member's KYC attestations
  (fields stored encrypted, attested, superseded, revoked);
* :mod:`ledger.member.releases` — :class:`ReleaseDesk`: attested fields released to a grantee,
  a receipt first.
"""

from ledger.member.access import (
    READER_ROLES,
    AccessError,
    Action,
    Forbidden,
    NotVisible,
    Role,
    check_agreement_access,
    check_create,
    may_read,
)
from ledger.member.directory import (
    CustomerKeys,
    Directories,
    customer_keyid,
    directory_for,
    read_members_file,
    write_members_file,
)

__all__ = [
    "READER_ROLES",
    "AccessError",
    "Action",
    "CustomerKeys",
    "Directories",
    "Forbidden",
    "NotVisible",
    "Role",
    "check_agreement_access",
    "check_create",
    "customer_keyid",
    "directory_for",
    "may_read",
    "read_members_file",
    "write_members_file",
]
