"""Consent: what a customer's grant lets a member receive, and the record of each use.

* :mod:`ledger.consent.release` — :func:`check_release`: whether a member may be given a
  customer's attested fields now (grantee, signatures, windows, revocations, scope, uses left,
  the per-use authorization), each refusal its own error.
"""
