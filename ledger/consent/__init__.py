"""Consent at work: whether a member may be given a customer's attested fields, and the record
of each use.

* :mod:`ledger.consent.release` — :func:`check_release`: whether a member may be given a
  customer's attested fields now (grantee, signatures, windows, revocations, scope, uses left,
  the per-use authorization), each refusal its own error;
* :mod:`ledger.consent.receipt` — :class:`AccessReceipt`: the record of one release of attested
  fields under a grant, anchored as a Merkle leaf (``ledger/access-receipt`` v1) in the same
  batches as agreement versions;
* :mod:`ledger.consent.envelope` — :func:`seal_release` / :func:`open_release`: the released
  Disclosures encrypted to the grantee's ``disclosure-receiving`` key (``ledger-release/1``).
"""

from ledger.consent.receipt import AccessReceipt, ReceiptError, new_receipt_id

__all__ = ["AccessReceipt", "ReceiptError", "new_receipt_id"]
