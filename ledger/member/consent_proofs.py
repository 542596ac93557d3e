"""The proof of consent a member's service issues: what ``GET /v1/consents/{grant_id}/proof``
runs. One ``ledger-consent-proof/1`` file (:mod:`ledger.proof.consent`) per request, built from
the chain as it is now (the grant as recorded, its attestation and revocations, read through
:class:`~ledger.member.consents.ConsentRelay`) and from this service's database (the access
receipts it wrote under the grant, each with its inclusion proof once its batch is anchored),
and sealed by the service now (its proof-sealing key, with its registry entry where it is
registered; else its issuer key, as agreement proofs are).

Read by whoever may read the grant (the customer whose key the attestation binds, the grantee,
the attester, auditors, the regulator; anyone else: :class:`ConsentNotFound`, as for no grant).
Receipts whose batch is not anchored yet are **not** proven in the file: their IDs are listed
as ``pending`` (the service's word; ask again once they are anchored, usually seconds later).
A service proves the receipts *it* wrote: ask the attester's service, which releases the data
and writes every receipt. An inert grant (its signature does not verify under the
attestation's key) is no consent: :class:`ConsentProofRefused`, nothing issued.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ledger import canonical
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db.records import StoredReceipt
from ledger.httpsig import Caller
from ledger.member.consents import ConsentRelay, ConsentRelayError
from ledger.proof import BatchAnchor, BatchInclusion, ProofInvalid, ProofKeys
from ledger.proof.consent import AnchoredReceipt, build_consent_proof

__all__ = ["ConsentProofRefused", "ConsentProofs", "Sealing"]

#: What seals a proof issued at a time: the key, its registry entry (or None), the distid.
Sealing = Callable[[datetime], tuple[SM2PrivateKey, ProofKeys | None, bytes]]


class ConsentProofRefused(ConsentRelayError):
    """No proof of this consent can be issued (the grant is inert): nothing was issued."""


class ConsentProofs:
    """Issues proofs of consent for one member's service; thread-safe (its parts are)."""

    def __init__(
        self,
        *,
        relay: ConsentRelay,
        sealing: Sealing,
        now: Callable[[], datetime],
    ) -> None:
        self._relay = relay
        self._sealing = sealing
        self._now = now

    def issue(self, caller: Caller, grant_id: bytes) -> bytes:
        """The ``ledger-consent-proof/1`` file of the grant, sealed now, if ``caller`` may read
        the grant (:class:`~ledger.member.consents.ConsentNotFound` otherwise)."""
        view = self._relay.view(caller, grant_id)
        stored = self._relay.receipts(caller, grant_id)
        sealed_at = canonical.whole_seconds(self._now())
        key, keys, distid = self._sealing(sealed_at)
        try:
            return build_consent_proof(
                domain=self._relay.domain(),
                record=view.record,
                attestation=view.attestation,
                attestation_contract=self._relay.contracts()[0].address,
                revocations=view.revocations,
                receipts=[_anchored(r) for r in stored if r.inclusion is not None],
                pending=[r.receipt.receipt_id for r in stored if r.inclusion is None],
                chain_time=view.at,
                sealed_at=sealed_at,
                issuer_key=key,
                keys=keys,
                distid=distid,
            )
        except ProofInvalid as exc:
            raise ConsentProofRefused(
                f"no proof of grant 0x{grant_id.hex()} can be issued: {exc}"
            ) from exc


def _anchored(stored: StoredReceipt) -> AnchoredReceipt:
    return AnchoredReceipt(
        stored.receipt, BatchInclusion.of(stored.inclusion), BatchAnchor.of(stored.inclusion)
    )
