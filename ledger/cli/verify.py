"""``ledger verify FILE``: check a proof file offline; with ``--rpc`` also against the chain.

Exit 0: valid. Exit 1: invalid (the reason on one line). Exit 2: could not check (bad arguments,
unreachable node).
"""

from __future__ import annotations

from pathlib import Path

import click

from ledger.chain.client import ChainClient
from ledger.proof import ProofInvalid, confirm_on_chain, verify_proof


@click.command("verify")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rpc", "rpc_url", metavar="URL", help="Also confirm the anchor on this chain node.")
@click.option(
    "--issuer",
    "issuers",
    multiple=True,
    metavar="SM3",
    help="Only accept proofs sealed by this issuer key fingerprint (sm3:<hex>); repeatable.",
)
def verify(proof_file: Path, rpc_url: str | None, issuers: tuple[str, ...]) -> None:
    """Verify a proof file: signatures, digests, CID, anchor, transaction and seal."""
    trusted = {_fingerprint(value) for value in issuers} if issuers else None
    data = proof_file.read_bytes()
    try:
        proof = verify_proof(data, trusted_issuers=trusted)
        if rpc_url:
            confirm_on_chain(proof, client=ChainClient(rpc_url=rpc_url))
    except ProofInvalid as exc:
        click.echo(f"invalid: {exc}")
        raise SystemExit(1) from None
    where = "confirmed on chain" if rpc_url else "offline"
    click.echo(
        f"valid ({where}): agreement {proof.agreement_id} signed by {', '.join(proof.roles)}, "
        f"anchored on chain {proof.chain_id} in block {proof.block_number}"
    )


def _fingerprint(text: str) -> bytes:
    if not text.startswith("sm3:") or len(text) != 68:
        raise click.BadParameter(f"expected sm3:<64 hex>, got {text!r}", param_hint="--issuer")
    try:
        return bytes.fromhex(text[4:])
    except ValueError:
        raise click.BadParameter(f"not hex: {text!r}", param_hint="--issuer") from None
