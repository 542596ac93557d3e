"""``ledger verify PATH...`` over v1 proofs: one file, directories of hundreds (parallel, one
summary), and ``--rpc`` against a real anvil node with one confirmation per batch."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ledger.chain.evidence import EvidenceLedgerContract
from ledger.cli import cli
from ledger.proof import VerifiedProof
from tests._fixtures.anvil import free_port
from tests._fixtures.proofs import (
    AnchoredBatch,
    Parties,
    anchor_offline,
    anchor_on_chain,
    domain_of,
    reseal,
    sign_version,
)

SUMMARY_ALL_VALID = "200 valid, 0 invalid, 0 could not be checked"


def _ledger(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _write(directory: Path, batch: AnchoredBatch, issuer: Parties, **options: bool) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, version in enumerate(batch.versions):
        path = (
            directory
            / f"{version.entry.agreement_id}.v{version.entry.agreement_version}.proof.json"
        )
        path.write_bytes(batch.proof(index, issuer.issuer, **options))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def parties() -> Parties:
    return Parties.generate()


@pytest.fixture(scope="module")
def proof_tree(tmp_path_factory: pytest.TempPathFactory, parties: Parties) -> Path:
    """200 proofs of two offline batches, in nested directories, plus files that are not
    proofs by name (ignored in directories)."""
    root = tmp_path_factory.mktemp("proofs")
    versions = [sign_version(parties, content=b"agreement %d" % i) for i in range(200)]
    first = anchor_offline(versions[:150], extra_leaves=50)
    second = anchor_offline(versions[150:])
    _write(root / "2026" / "11", first, parties, include_car=False)
    _write(root / "2026" / "12", second, parties, include_content=False)
    (root / "README.txt").write_text("not a proof")
    (root / "2026" / "notes.json").write_text("{}")
    return root


def test_one_valid_file_keeps_its_one_line(proof_tree: Path) -> None:
    path = next((proof_tree / "2026" / "11").iterdir())
    done = _ledger("verify", str(path))
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("valid (offline): agreement agr_")
    assert " version 1 signed by broker, customer, anchored on chain 31337 in block 7 " in lines[0]
    assert "(batch keccak256:" in lines[0]
    assert lines[0].endswith(" of 200); no key checks (ledger-proof/1 names no registry entries)")


def test_one_invalid_file(proof_tree: Path, tmp_path: Path) -> None:
    source = next((proof_tree / "2026" / "12").iterdir())
    path = tmp_path / "bad.proof.json"
    path.write_bytes(source.read_bytes().replace(b'"leaf_index":', b'"leaf_index":1', 1))
    done = _ledger("verify", str(path))
    assert done.exit_code == 1
    assert done.stdout.startswith("invalid: ") and len(done.stdout.splitlines()) == 1


def test_a_directory_of_valid_proofs(proof_tree: Path) -> None:
    done = _ledger("verify", str(proof_tree))
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [SUMMARY_ALL_VALID]
    assert done.stderr == ""  # no terminal: no progress bar


def test_one_invalid_file_among_200(proof_tree: Path, tmp_path: Path, parties: Parties) -> None:
    copy = tmp_path / "proofs"
    shutil.copytree(proof_tree, copy)
    # leaf 0 of a batch of 2 or more: as leaf 1 (its sibling, same depth) its path is wrong
    victim = next(
        path
        for path in sorted((copy / "2026" / "12").iterdir())
        if (inclusion := json.loads(path.read_bytes())["inclusion"])["leaf_index"] == 0
        and inclusion["tree_size"] >= 2
    )
    victim.write_bytes(
        reseal(
            victim.read_bytes(),
            lambda p: p["inclusion"].update(leaf_index=p["inclusion"]["leaf_index"] + 1),
            parties.issuer,
        )
    )
    done = _ledger("verify", "--jobs", "3", str(copy))
    assert done.exit_code == 1
    assert done.stdout.splitlines() == [
        f"{victim}: inclusion proof does not lead to the root",
        "199 valid, 1 invalid, 0 could not be checked",
    ]


def test_files_and_directories_together(proof_tree: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"  # named on the command line: checked whatever its name
    garbage.write_text("[]")
    one = next((proof_tree / "2026" / "11").iterdir())
    done = _ledger("verify", str(proof_tree / "2026" / "12"), str(one), str(one), str(garbage))
    assert done.exit_code == 1
    assert done.stdout.splitlines() == [
        f"{garbage}: unsupported proof format None (this verifier reads ledger-proof/0,"
        " ledger-proof/1, ledger-proof/2, ledger-consent-proof/1)",
        "51 valid, 1 invalid, 0 could not be checked",  # 50 + the one file, counted once
    ]


def test_issuer_pinning_over_a_directory(proof_tree: Path) -> None:
    done = _ledger("verify", "--issuer", "sm3:" + "00" * 32, str(proof_tree / "2026" / "12"))
    assert done.exit_code == 1
    assert done.stdout.splitlines()[-1] == "0 valid, 50 invalid, 0 could not be checked"
    assert all("is not trusted" in line for line in done.stdout.splitlines()[:-1])


@pytest.mark.parametrize(
    "issuer", ["00" * 32, "sm3:" + "00" * 31, "sm3:" + "0G" * 32, "SM3:" + "00" * 32, "keccak256:0"]
)
def test_an_issuer_that_is_not_an_sm3_fingerprint_is_bad_input(tmp_path: Path, issuer: str) -> None:
    (tmp_path / "a.proof.json").write_text("{}")
    done = _ledger("verify", "--issuer", issuer, str(tmp_path))
    assert done.exit_code == 2
    assert done.stderr.splitlines()[-1] == (
        f"Error: Invalid value for --issuer: expected an sm3 digest 'sm3:<64 hex>', got {issuer!r}"
    )


def test_a_directory_without_proofs_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text("{}")
    done = _ledger("verify", str(tmp_path))
    assert done.exit_code == 2
    assert "no *.proof.json files" in done.stderr


def test_an_unreadable_file_could_not_be_checked(proof_tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "proofs"
    shutil.copytree(proof_tree / "2026" / "12", copy)
    (copy / "dangling.proof.json").symlink_to(tmp_path / "missing")
    done = _ledger("verify", str(copy))
    assert done.exit_code == 2
    assert done.stdout.splitlines()[-1] == "50 valid, 0 invalid, 1 could not be checked"
    assert done.stdout.splitlines()[0].startswith(f"{copy / 'dangling.proof.json'}: could not")


# --- with --rpc: one confirmation per batch


@pytest.fixture
def chain_proofs(
    tmp_path: Path, evidence_ledger: EvidenceLedgerContract, proof_parties: Parties
) -> tuple[Path, list[AnchoredBatch]]:
    domain = domain_of(evidence_ledger)
    batches = []
    for count in (40, 25):
        versions = [sign_version(proof_parties, domain) for _ in range(count)]
        batches.append(anchor_on_chain(versions, evidence_ledger, extra_leaves=3))
    for number, batch in enumerate(batches):
        _write(tmp_path / "proofs" / f"batch-{number}", batch, proof_parties, include_car=False)
    return tmp_path / "proofs", batches


def test_rpc_over_a_directory_confirms_once_per_batch(
    chain_proofs: tuple[Path, list[AnchoredBatch]],
    anvil_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ledger.cli.verify as verify_cli

    confirmed: list[tuple[object, ...]] = []
    real = verify_cli.confirmation_steps

    def counting(proof: VerifiedProof) -> list[tuple[tuple[object, ...], Callable[..., None]]]:
        def counted(key: tuple[object, ...], step: Callable[..., None]) -> Callable[..., None]:
            def run(client: object) -> None:
                confirmed.append(key)
                step(client)

            return run

        return [(key, counted(key, step)) for key, step in real(proof)]

    monkeypatch.setattr(verify_cli, "confirmation_steps", counting)
    directory, _ = chain_proofs
    done = _ledger("verify", "--rpc", anvil_url, "--jobs", "8", str(directory))
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == ["65 valid, 0 invalid, 0 could not be checked"]
    assert len(confirmed) == len(set(confirmed)) == 2  # one step per batch (v1: the anchor)
    assert {key[0] for key in confirmed} == {"anchor"}


def test_rpc_refusals_are_invalid_files(
    chain_proofs: tuple[Path, list[AnchoredBatch]],
    anvil_url: str,
    proof_parties: Parties,
) -> None:
    directory, _ = chain_proofs
    victim = sorted((directory / "batch-1").iterdir())[3]
    victim.write_bytes(
        reseal(
            victim.read_bytes(),
            lambda p: p["anchor"]["block"].update(number=p["anchor"]["block"]["number"] - 1),
            proof_parties.issuer,
        )
    )
    done = _ledger("verify", "--rpc", anvil_url, str(directory))
    assert done.exit_code == 1
    assert done.stdout.splitlines() == [
        f"{victim}: the batch on chain differs from the proof",
        "64 valid, 1 invalid, 0 could not be checked",
    ]
    # offline, the same file is self-consistent
    assert _ledger("verify", str(directory)).exit_code == 0


def test_rpc_unreachable_exits_2(chain_proofs: tuple[Path, list[AnchoredBatch]]) -> None:
    directory, _ = chain_proofs
    done = _ledger("verify", "--rpc", f"http://127.0.0.1:{free_port()}", str(directory))
    assert done.exit_code == 2
    assert done.stderr.startswith("error: chain node at")


def test_proof_files_are_json_a_human_can_read(proof_tree: Path) -> None:
    path = next((proof_tree / "2026" / "12").iterdir())
    parsed = json.loads(path.read_bytes())
    assert list(parsed) == ["agreement", "anchor", "format", "inclusion", "seal", "signatures"]
