"""``ledger-proof/2``: a ``ledger-proof/1`` body plus ``keys``, the KeyRegistry entries of the
issuer's sealing key and (when registered) of the broker's signing key, under the seal domain
``ledger/proof-seal/2``. Everything but ``keys`` is checked exactly as in v1 (:mod:`._v1`);
``keys`` by :mod:`._keys` (offline, and on chain after v1's confirmation).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any, Literal

from ledger.proof import _common as c
from ledger.proof import _keys, _v1

FORMAT = "ledger-proof/2"
SEAL_DOMAIN = b"ledger/proof-seal/2\x00"


class _ProofFile(c.Model):
    format: Literal["ledger-proof/2"]
    agreement: _v1._AgreementPart
    signatures: c.Signatures
    inclusion: _v1._InclusionPart
    anchor: _v1._AnchorPart
    keys: _keys.KeysPart
    seal: c.SealPart


def verify(raw: dict[str, Any], *, trusted_issuers: Collection[bytes] | None) -> c.VerifiedProof:
    """Check a parsed ``ledger-proof/2`` file offline: v1's checks 1 to 9, then 10 to 13."""
    _v1.no_nulls(raw)
    proof = c.parse(_ProofFile, raw)
    verified = _v1.check_body(
        raw, proof, format_name=FORMAT, seal_domain=SEAL_DOMAIN, trusted_issuers=trusted_issuers
    )
    claims = _keys.check_keys(proof.keys, proof=verified, signatures=proof.signatures)
    return replace(verified, keys=claims)
