"""``ledger verify PATH...``: check proof files offline; with ``--rpc`` also against the chain.
Agreement proofs (``ledger-proof/0`` to ``/2``) and proofs of consent (``ledger-consent-proof/1``,
:mod:`ledger.proof.consent`) alike.

One file: its verdict on one line (``valid (...)`` or ``invalid: <reason>``); a valid one
ends with the key checks that ran: the registry entries of a ``ledger-proof/2`` file (checked
offline, and on chain with ``--rpc``), or ``no key checks`` for older formats.

Several files, or directories (every ``*.proof.json`` below them, recursively): the files are
verified in parallel threads (the SM2/SM3 work runs in OpenSSL, outside the GIL), with a
progress bar on stderr when it is a terminal. With ``--rpc`` each distinct on-chain claim (one
per batch, or per ``ledger-proof/0`` anchor; one per registry and per key entry and signing time
of ``ledger-proof/2`` files) is confirmed once and the verdict reused for every proof that makes
it, so a directory of thousands of proofs of one batch costs a few RPC calls (and one per
distinct key entry and signing time).
Then one ``path: reason`` line per file that is not valid, and the summary
``N valid, M invalid, K could not be checked``.

Exit 0: every proof valid. Exit 1: at least one invalid. Exit 2: could not check (bad arguments,
no proof files, unreachable node, unreadable file) and none found invalid.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from ledger import canonical
from ledger.agreement import VersionKind
from ledger.chain.client import ChainClient
from ledger.errors import LedgerError, one_line
from ledger.proof import (
    ProofInvalid,
    VerifiedConsentProof,
    VerifiedProof,
    confirm_on_chain,
    confirmation_steps,
    verify_file,
)

PROOF_GLOB = "*.proof.json"


@click.command("verify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--rpc", "rpc_url", metavar="URL", help="Also confirm the anchor on this chain node.")
@click.option(
    "--issuer",
    "issuers",
    multiple=True,
    metavar="SM3",
    help="Only accept proofs sealed by this issuer key fingerprint (sm3:<hex>); repeatable.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Proofs verified in parallel (default: the number of CPUs).",
)
def verify(
    paths: tuple[Path, ...], rpc_url: str | None, issuers: tuple[str, ...], jobs: int | None
) -> None:
    """Verify proof files (or directories of *.proof.json): signatures, digests, CID, Merkle
    inclusion, anchor, transaction, seal, and (ledger-proof/2) the signing keys' registry
    windows."""
    trusted = {_fingerprint(value) for value in issuers} if issuers else None
    if len(paths) == 1 and paths[0].is_file():
        _verify_one(paths[0], rpc_url=rpc_url, trusted=trusted)
        return
    files = _proof_files(paths)
    if not files:
        raise click.UsageError(f"no {PROOF_GLOB} files in {', '.join(map(str, paths))}")
    confirmations = None
    if rpc_url:
        _ = ChainClient(rpc_url=rpc_url).chain_id  # an unreachable node: exit 2 now, not per file
        confirmations = _Confirmations(rpc_url)
    outcomes = _verify_many(files, trusted, confirmations, jobs or os.cpu_count() or 1)
    invalid = sorted((o for o in outcomes if o.verdict == _INVALID), key=lambda o: str(o.path))
    unchecked = sorted((o for o in outcomes if o.verdict == _UNCHECKED), key=lambda o: str(o.path))
    for outcome in invalid:
        click.echo(f"{outcome.path}: {outcome.reason}")
    for outcome in unchecked:
        click.echo(f"{outcome.path}: could not be checked: {outcome.reason}")
    valid = len(outcomes) - len(invalid) - len(unchecked)
    click.echo(f"{valid} valid, {len(invalid)} invalid, {len(unchecked)} could not be checked")
    raise SystemExit(1 if invalid else 2 if unchecked else 0)


# --- one file: the verdict on one line


def _verify_one(path: Path, *, rpc_url: str | None, trusted: Collection[bytes] | None) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        click.echo(f"error: cannot read {path}: {exc.strerror or exc}", err=True)
        raise SystemExit(2) from None
    try:
        proof = verify_file(data, trusted_issuers=trusted)
        if rpc_url:
            confirm_on_chain(proof, client=ChainClient(rpc_url=rpc_url))
    except ProofInvalid as exc:
        click.echo(f"invalid: {exc}")
        raise SystemExit(1) from None
    where = "confirmed on chain" if rpc_url else "offline"
    click.echo(f"valid ({where}): {_describe(proof)}; {_describe_keys(proof)}")


def _describe(proof: VerifiedProof | VerifiedConsentProof) -> str:
    if isinstance(proof, VerifiedConsentProof):
        return _describe_consent(proof)
    what = f"agreement {proof.agreement_id}"
    if proof.agreement_version is not None:
        what += f" version {proof.agreement_version}"
        if proof.kind != VersionKind.AGREEMENT:
            what += f" ({proof.kind})"
    where = f"anchored on chain {proof.chain_id} in block {proof.block_number}"
    if proof.batch_id is not None:
        where += (
            f" (batch {canonical.label('keccak256', proof.batch_id)}, leaf {proof.leaf_index}"
            f" of {proof.tree_size})"
        )
    return f"{what} signed by {', '.join(proof.roles)}, {where}"


def _describe_consent(proof: VerifiedConsentProof) -> str:
    """A proof of consent: the grant, its revocation, its uses proven and pending."""
    record = proof.record
    grant = record.grant
    what = (
        f"consent {canonical.hex0x(record.grant_id)} of the customer key"
        f" {canonical.label('sm3', record.customer_key_fingerprint)} to {grant.grantee}"
        f" ({grant.mode.label}) under attestation"
        f" {canonical.hex0x(proof.attestation.attestation_id)} by {proof.attestation.attester}"
    )
    revoked = (
        "not revoked" if proof.revoked_at is None else f"revoked at {_unix_time(proof.revoked_at)}"
    )
    unverified = sum(1 for _, verifies in proof.revocations if not verifies)
    if unverified:
        revoked += f" ({unverified} recorded revocation(s) not signed by the customer)"
    blocks = sorted({r.block_number for r in proof.receipts})
    uses = f"{len(proof.receipts)} use(s) proven anchored on chain {proof.domain.chain_id}"
    if blocks:
        uses += f" in block(s) {', '.join(map(str, blocks))}"
    return f"{what}, {revoked}; {uses}, {len(proof.pending)} pending"


def _unix_time(seconds: int) -> str:
    return canonical.timestamp(datetime.fromtimestamp(seconds, UTC))


def _describe_keys(proof: VerifiedProof | VerifiedConsentProof) -> str:
    """Which key checks ran: a file before ``ledger-proof/2`` names no registry entries, and
    must not read as if its keys had been checked."""
    claims = proof.keys
    if claims is None:
        return f"no key checks ({proof.format} names no registry entries)"
    checked = ", ".join(
        f"{key.who} {canonical.label('sm3', key.fingerprint)} of {key.member}"
        f" valid at {canonical.timestamp(key.used_at)}"
        for key in claims.entries
    )
    return f"keys in registry {claims.registry}: {checked}"


# --- many files: parallel, confirmations shared, a summary

_VALID, _INVALID, _UNCHECKED = "valid", "invalid", "unchecked"


@dataclass(frozen=True)
class _Outcome:
    path: Path
    verdict: str
    reason: str = ""


def _proof_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, directories searched recursively; each file once, in a stable order."""
    found: dict[Path, Path] = {}
    for path in paths:
        candidates = sorted(p for p in path.rglob(PROOF_GLOB) if not p.is_dir())
        for candidate in candidates if path.is_dir() else [path]:
            found.setdefault(candidate.resolve(), candidate)
    return list(found.values())


class _Confirmations:
    """Each distinct step of :func:`confirmation_steps` once (the anchor once per batch, a
    registry once, a key entry once per signing time); threads asking about the same step
    meanwhile wait for that one answer (a verdict or a node error). One read-only client per
    thread."""

    def __init__(self, rpc_url: str) -> None:
        self._rpc_url = rpc_url
        self._local = threading.local()
        self._lock = threading.Lock()
        self._answers: dict[tuple[object, ...], Future[None]] = {}

    def confirm(self, proof: VerifiedProof | VerifiedConsentProof) -> None:
        for key, step in confirmation_steps(proof):
            self._once(key, step)

    def _once(self, key: tuple[object, ...], step: Callable[[ChainClient], None]) -> None:
        with self._lock:
            answer = self._answers.get(key)
            asking = answer is None
            if answer is None:
                answer = self._answers[key] = Future()
        if asking:
            try:
                step(self._client())
            except BaseException as exc:
                answer.set_exception(exc)
            else:
                answer.set_result(None)
        answer.result()

    def _client(self) -> ChainClient:
        client: ChainClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = ChainClient(rpc_url=self._rpc_url)
        return client


def _verify_many(
    files: list[Path],
    trusted: Collection[bytes] | None,
    confirmations: _Confirmations | None,
    jobs: int,
) -> list[_Outcome]:
    def check(path: Path) -> _Outcome:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _Outcome(path, _UNCHECKED, f"cannot read it: {exc.strerror or exc}")
        try:
            proof = verify_file(data, trusted_issuers=trusted)
            if confirmations is not None:
                confirmations.confirm(proof)
        except ProofInvalid as exc:
            return _Outcome(path, _INVALID, one_line(exc))
        except LedgerError as exc:  # the node failed: no verdict on this proof
            return _Outcome(path, _UNCHECKED, one_line(exc))
        return _Outcome(path, _VALID)

    stderr = sys.stderr  # looked up now: CliRunner swaps it
    outcomes = []
    with (
        ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="verify") as pool,
        click.progressbar(
            length=len(files), label="verifying", file=stderr, hidden=not stderr.isatty()
        ) as bar,
    ):
        for future in as_completed([pool.submit(check, path) for path in files]):
            outcomes.append(future.result())
            bar.update(1)
    return outcomes


def _fingerprint(text: str) -> bytes:
    try:
        return canonical.unlabel("sm3", text)
    except canonical.EncodingError as exc:
        raise click.BadParameter(str(exc), param_hint="--issuer") from None
