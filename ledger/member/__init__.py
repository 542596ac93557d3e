"""Members of the consortium as the service sees them: who a caller is and what it may do.

* :mod:`ledger.member.access` — the access policy (:func:`check_create`,
  :func:`check_agreement_access`, :class:`Forbidden`, :class:`NotVisible`), written once;
* :mod:`ledger.member.directory` — :func:`directory_for`: the key directory a running service
  verifies callers against (for now a members file);
* :mod:`ledger.member.chain_directory` — :class:`ChainKeyDirectory`: the same answers from the
  on-chain Consortium and KeyRegistry (tested; the service is not wired to it yet).
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
from ledger.member.directory import directory_for, read_members_file

__all__ = [
    "READER_ROLES",
    "AccessError",
    "Action",
    "Forbidden",
    "NotVisible",
    "Role",
    "check_agreement_access",
    "check_create",
    "directory_for",
    "may_read",
    "read_members_file",
]
