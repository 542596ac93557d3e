"""SM2 interoperability with the real ``openssl`` command line (OpenSSL 3.0 syntax).

Commands verified on OpenSSL 3.0.19:

    openssl genpkey -algorithm SM2 -out k.pem
    openssl pkey -in k.pem -pubout -out pub.pem
    openssl pkeyutl -sign -rawin -digest sm3 -inkey k.pem -pkeyopt distid:ID -in msg -out sig
    openssl pkeyutl -verify -rawin -digest sm3 -pubin -inkey pub.pem -pkeyopt distid:ID \
        -in msg -sigfile sig
    openssl pkeyutl -encrypt -pubin -inkey pub.pem -in msg -out ct
    openssl pkeyutl -decrypt -inkey k.pem -in ct -out pt

(``-pkeyopt sm2_id:`` is refused by 3.0's pkeyutl; without ``distid`` it uses an *empty* ID.)
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger._keywrap import MAGIC, KeyWrapper
from ledger.cli import cli
from ledger.crypto import (
    DEFAULT_DISTID,
    InvalidSignature,
    KeyFormatError,
    SM2PrivateKey,
    SM2PublicKey,
    sm4,
)
from tests._fixtures.openssl import openssl_binary

pytestmark = pytest.mark.usefixtures("openssl_cli")

ALICE = b"ALICE123@YAHOO.COM"
SIZES = [0, 1, 1000, 100_000]
IDS = [DEFAULT_DISTID, ALICE]


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    completed = subprocess.run(
        [openssl_binary(), *map(str, args)], capture_output=True, timeout=60, check=False
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"openssl {' '.join(map(str, args))} failed: "
            + completed.stderr.decode(errors="replace")
        )
    return completed


def message(size: int) -> bytes:
    return os.urandom(size)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openssl")


@pytest.fixture(scope="module")
def openssl_key(work: Path) -> tuple[Path, Path]:
    """(private key PEM, public key PEM) made by openssl itself."""
    key, pub = work / "openssl-key.pem", work / "openssl-pub.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", key)
    openssl("pkey", "-in", key, "-pubout", "-out", pub)
    return key, pub


@pytest.fixture(scope="module")
def our_key(work: Path) -> tuple[SM2PrivateKey, Path, Path]:
    """(our key, its private PEM file, its public PEM file)."""
    key = SM2PrivateKey.generate()
    key_path, pub_path = work / "our-key.pem", work / "our-pub.pem"
    key_path.write_bytes(key.to_pem())
    pub_path.write_bytes(key.public_key().to_pem())
    return key, key_path, pub_path


def openssl_sign(key: Path, data: Path, out: Path, distid: bytes) -> bytes:
    openssl(
        "pkeyutl",
        "-sign",
        "-rawin",
        "-digest",
        "sm3",
        "-inkey",
        key,
        "-pkeyopt",
        f"distid:{distid.decode()}",
        "-in",
        data,
        "-out",
        out,
    )
    return out.read_bytes()


def openssl_verify(pub: Path, data: Path, sig: Path, distid: bytes | None) -> bool:
    id_args = [] if distid is None else ["-pkeyopt", f"distid:{distid.decode()}"]
    completed = openssl(
        "pkeyutl",
        "-verify",
        "-rawin",
        "-digest",
        "sm3",
        "-pubin",
        "-inkey",
        pub,
        *id_args,
        "-in",
        data,
        "-sigfile",
        sig,
        check=False,
    )
    ok = completed.returncode == 0
    assert ok == (b"Signature Verified Successfully" in completed.stdout)
    return ok


# --- keys --------------------------------------------------------------------------------------
def test_openssl_keys_load_and_match(openssl_key: tuple[Path, Path]) -> None:
    key_path, pub_path = openssl_key
    private = SM2PrivateKey.from_pem(key_path.read_bytes())
    public = SM2PublicKey.from_pem(pub_path.read_bytes())
    assert private.public_key() == public
    assert public.to_pem() == pub_path.read_bytes()  # byte-identical PEM
    der = openssl("pkey", "-pubin", "-in", pub_path, "-outform", "DER").stdout
    assert SM2PublicKey.from_der(der) == public and public.to_der() == der


def test_openssl_reads_our_keys(our_key: tuple[SM2PrivateKey, Path, Path], work: Path) -> None:
    _, key_path, pub_path = our_key
    derived = openssl("pkey", "-in", key_path, "-pubout").stdout
    assert derived == pub_path.read_bytes()
    text = openssl("pkey", "-in", key_path, "-noout", "-text").stdout
    assert b"ASN1 OID: SM2" in text


def test_other_openssl_key_formats(work: Path) -> None:
    ecparam = work / "ecparam.pem"
    openssl("ecparam", "-name", "SM2", "-genkey", "-out", ecparam)
    assert b"SM2 PARAMETERS" in ecparam.read_bytes()
    from_ecparam = SM2PrivateKey.from_pem(ecparam.read_bytes())
    sec1 = openssl("ec", "-in", ecparam).stdout  # "SM2 PRIVATE KEY" (SEC1)
    assert SM2PrivateKey.from_pem(sec1).public_key() == from_ecparam.public_key()
    compressed = openssl(
        "ec", "-in", ecparam, "-pubout", "-conv_form", "compressed", "-outform", "DER"
    ).stdout
    assert len(compressed) < 91
    assert SM2PublicKey.from_der(compressed) == from_ecparam.public_key()


def test_openssl_non_sm2_keys_are_rejected(work: Path) -> None:
    p256 = work / "p256.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p256)
    rsa_key = work / "rsa.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", rsa_key)
    for path in (p256, rsa_key):
        with pytest.raises(KeyFormatError, match=r"^PEM private key: not an SM2 key$"):
            SM2PrivateKey.from_pem(path.read_bytes())
        with pytest.raises(KeyFormatError, match=r"^PEM public key: not an SM2 key$"):
            SM2PublicKey.from_pem(openssl("pkey", "-in", path, "-pubout").stdout)


# --- signatures, both ways ---------------------------------------------------------------------
@pytest.mark.parametrize("distid", IDS, ids=lambda i: i.decode())
@pytest.mark.parametrize("size", SIZES)
def test_openssl_signs_we_verify(
    openssl_key: tuple[Path, Path], work: Path, size: int, distid: bytes
) -> None:
    key_path, pub_path = openssl_key
    data = message(size)
    msg_path, sig_path = work / f"o-msg-{size}", work / f"o-sig-{size}"
    msg_path.write_bytes(data)
    signature = openssl_sign(key_path, msg_path, sig_path, distid)
    public = SM2PublicKey.from_pem(pub_path.read_bytes())
    public.verify(signature, data, distid=distid)
    other = ALICE if distid == DEFAULT_DISTID else DEFAULT_DISTID
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(signature, data, distid=other)
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(signature, data + b"x", distid=distid)


@pytest.mark.parametrize("distid", IDS, ids=lambda i: i.decode())
@pytest.mark.parametrize("size", SIZES)
def test_we_sign_openssl_verifies(
    our_key: tuple[SM2PrivateKey, Path, Path], work: Path, size: int, distid: bytes
) -> None:
    key, _, pub_path = our_key
    data = message(size)
    msg_path, sig_path = work / f"l-msg-{size}", work / f"l-sig-{size}"
    msg_path.write_bytes(data)
    sig_path.write_bytes(key.sign(data, distid=distid))
    assert openssl_verify(pub_path, msg_path, sig_path, distid)
    # a different ID, and OpenSSL's own (empty) default, must both fail
    other = ALICE if distid == DEFAULT_DISTID else DEFAULT_DISTID
    assert not openssl_verify(pub_path, msg_path, sig_path, other)
    assert not openssl_verify(pub_path, msg_path, sig_path, None)
    # and a signature made under another ID does not verify under this one
    sig_path.write_bytes(key.sign(data, distid=other))
    assert not openssl_verify(pub_path, msg_path, sig_path, distid)


# --- encryption, both ways ---------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 19, 1000, 100_000])
def test_encryption_interop(
    openssl_key: tuple[Path, Path],
    our_key: tuple[SM2PrivateKey, Path, Path],
    work: Path,
    size: int,
) -> None:
    data = message(size)
    plain, cipher = work / f"e-plain-{size}", work / f"e-cipher-{size}"
    # openssl encrypts to an openssl key; we decrypt
    key_path, pub_path = openssl_key
    plain.write_bytes(data)
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub_path, "-in", plain, "-out", cipher)
    assert SM2PrivateKey.from_pem(key_path.read_bytes()).decrypt(cipher.read_bytes()) == data
    # we encrypt to our key; openssl decrypts
    ours, our_key_path, _ = our_key
    cipher.write_bytes(ours.public_key().encrypt(data))
    out = openssl("pkeyutl", "-decrypt", "-inkey", our_key_path, "-in", cipher).stdout
    assert out == data


def test_empty_plaintext_is_unsupported_by_both(openssl_key: tuple[Path, Path], work: Path) -> None:
    empty = work / "empty"
    empty.write_bytes(b"")
    _, pub_path = openssl_key
    result = openssl(
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        pub_path,
        "-in",
        empty,
        "-out",
        work / "empty.ct",
        check=False,
    )
    assert result.returncode != 0
    with pytest.raises(ValueError, match=r"^SM2 cannot encrypt an empty plaintext$"):
        SM2PublicKey.from_pem(pub_path.read_bytes()).encrypt(b"")


# --- the CLI -----------------------------------------------------------------------------------
@dataclass
class CliResult:
    returncode: int
    stdout: bytes
    stderr: bytes


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    """The ``ledger`` group in-process (click's runner: separate stdout/stderr, exit codes)."""
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout_bytes, result.stderr_bytes)


def run_cli_process(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """The real ``ledger`` entry point in a child process (binary stdout, real exit status)."""
    code = "import sys; from ledger.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )


def test_cli_in_a_real_process(openssl_key: tuple[Path, Path], work: Path) -> None:
    key_path, pub_path = openssl_key
    data = work / "proc-data"
    data.write_bytes(message(3000))
    signed = run_cli_process("sm2", "sign", "--key", key_path, "--id", ALICE.decode(), data)
    assert signed.returncode == 0, signed.stderr
    (work / "proc.sig").write_bytes(signed.stdout)  # stdout is exactly the DER signature
    assert openssl_verify(pub_path, data, work / "proc.sig", ALICE)
    error = run_cli_process("sm2", "verify", "--pub", key_path, "--sig", work / "proc.sig", data)
    assert error.returncode == 2
    assert error.stderr.startswith(b"error: ") and error.stderr.count(b"\n") == 1
    assert error.stdout == b""


def test_cli_sign_with_openssl_key_verified_by_openssl(
    openssl_key: tuple[Path, Path], work: Path
) -> None:
    key_path, pub_path = openssl_key
    data = work / "cli-data"
    data.write_bytes(message(5000))
    for distid in IDS:
        sig = work / "cli.sig"
        result = run_cli(
            "sm2", "sign", "--key", key_path, "--id", distid.decode(), "--out", sig, data
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == b""
        assert openssl_verify(pub_path, data, sig, distid)
    # to stdout, as raw DER bytes
    result = run_cli("sm2", "sign", "--key", key_path, data)
    assert result.returncode == 0, result.stderr
    (work / "stdout.sig").write_bytes(result.stdout)
    assert openssl_verify(pub_path, data, work / "stdout.sig", DEFAULT_DISTID)


def test_cli_verify_exit_codes(openssl_key: tuple[Path, Path], work: Path) -> None:
    key_path, pub_path = openssl_key
    data, sig = work / "v-data", work / "v.sig"
    data.write_bytes(b"order #42: buy 100 shares")
    openssl_sign(key_path, data, sig, ALICE)

    ok = run_cli("sm2", "verify", "--pub", pub_path, "--sig", sig, "--id", ALICE.decode(), data)
    assert (ok.returncode, ok.stdout) == (0, b"valid\n")

    wrong_id = run_cli("sm2", "verify", "--pub", pub_path, "--sig", sig, data)
    assert wrong_id.returncode == 1
    assert wrong_id.stdout.startswith(b"invalid: ") and wrong_id.stdout.count(b"\n") == 1

    tampered = work / "v-data-tampered"
    tampered.write_bytes(b"order #42: buy 900 shares")
    bad = run_cli(
        "sm2", "verify", "--pub", pub_path, "--sig", sig, "--id", ALICE.decode(), tampered
    )
    assert bad.returncode == 1 and bad.stdout.startswith(b"invalid: ")

    garbage_sig = work / "garbage.sig"
    garbage_sig.write_bytes(b"\x30\x02\x01\x01")
    bad = run_cli("sm2", "verify", "--pub", pub_path, "--sig", garbage_sig, data)
    assert bad.returncode == 1 and bad.stdout.startswith(b"invalid: ")

    broken_pub = work / "broken-pub.pem"
    broken_pub.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    for pub in (broken_pub, work / "does-not-exist.pem", key_path):
        error = run_cli("sm2", "verify", "--pub", pub, "--sig", sig, data)
        assert error.returncode == 2, error
        assert error.stderr.startswith(b"error: ") and error.stderr.count(b"\n") == 1
        assert b"Traceback" not in error.stderr


def test_cli_sign_bad_inputs_exit_2(openssl_key: tuple[Path, Path], work: Path) -> None:
    p256 = work / "cli-p256.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p256)
    data = work / "d"
    data.write_bytes(b"x")
    for args in (
        ("--key", p256, data),
        ("--key", work / "missing.pem", data),
        ("--key", openssl_key[0], work / "missing-input"),
    ):
        result = run_cli("sm2", "sign", *args)
        assert result.returncode == 2, result
        assert result.stderr.startswith(b"error: ") and b"Traceback" not in result.stderr
    empty_id = run_cli("sm2", "sign", "--key", openssl_key[0], "--id", "", data)
    assert empty_id.returncode == 2


def test_cli_keygen_files_work_with_openssl(work: Path) -> None:
    runner = CliRunner()
    key_path, pub_path = work / "kg-key.pem", work / "kg-pub.pem"
    result = runner.invoke(
        cli, ["sm2", "keygen", "--out-key", str(key_path), "--out-pub", str(pub_path)]
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    public = SM2PublicKey.from_pem(pub_path.read_bytes())
    assert result.output.strip() == "sm3:" + public.fingerprint().hex()
    assert openssl("pkey", "-in", key_path, "-pubout").stdout == pub_path.read_bytes()
    again = runner.invoke(cli, ["sm2", "keygen", "--out-key", str(key_path)])
    assert again.exit_code == 2 and "exists" in again.output  # never clobbers a key silently


def test_cli_keystore_sign_and_verify(work: Path) -> None:
    store, data, sig = work / "store", work / "ks-data", work / "ks.sig"
    data.write_bytes(b"contract text")
    env = {"LEDGER_KEY_PASSWORD": "s3cret"}
    made = run_cli(
        "sm2",
        "keygen",
        "--keystore",
        store,
        "--name",
        "broker1",
        "--out-pub",
        work / "ks-pub.pem",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    signed = run_cli(
        "sm2", "sign", "--keystore", store, "--name", "broker1", "--out", sig, data, env=env
    )
    assert signed.returncode == 0, signed.stderr
    assert openssl_verify(work / "ks-pub.pem", data, sig, DEFAULT_DISTID)
    checked = run_cli("sm2", "verify", "--keystore", store, "--name", "broker1", "--sig", sig, data)
    assert (checked.returncode, checked.stdout) == (0, b"valid\n")
    wrong = run_cli(
        "sm2",
        "sign",
        "--keystore",
        store,
        "--name",
        "broker1",
        data,
        env={"LEDGER_KEY_PASSWORD": "wrong"},
    )
    assert wrong.returncode == 2 and b"wrong password" in wrong.stderr


# --- wrapped document keys (ledger-kw/1) -------------------------------------------------------
def test_a_wrapped_document_key_opens_with_openssl_and_sm4_gcm(
    openssl_key: tuple[Path, Path], work: Path
) -> None:
    key_path, pub_path = openssl_key
    reader = SM2PublicKey.from_pem(pub_path.read_bytes())
    document_key = sm4.generate_key()
    binding = b"agr_x\x00bafk\x00" + reader.fingerprint()
    wrapped = KeyWrapper().wrap(document_key, reader=reader, binding=binding)
    # the layout, read by hand as a reader without this library would
    assert wrapped[:4] == MAGIC
    size = int.from_bytes(wrapped[4:6], "big")
    (work / "kek.ct").write_bytes(wrapped[6 : 6 + size])
    kek = openssl("pkeyutl", "-decrypt", "-inkey", key_path, "-in", work / "kek.ct").stdout
    aad = b"ledger/document-key/1\x00" + binding
    assert sm4.decrypt(kek, wrapped[6 + size :], aad=aad) == document_key
