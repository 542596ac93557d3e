"""Consent at work: what a member service keeps of each use it makes of a customer's grant.

* :mod:`ledger.consent.receipt` — :class:`AccessReceipt`: the record of one release of attested
  fields under a grant, anchored as a Merkle leaf (``ledger/access-receipt`` v1) in the same
  batches as agreement versions.
"""

from ledger.consent.receipt import AccessReceipt, ReceiptError, new_receipt_id

__all__ = ["AccessReceipt", "ReceiptError", "new_receipt_id"]
