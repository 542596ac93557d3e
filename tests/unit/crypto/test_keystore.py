from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from ledger.crypto import (
    CryptoError,
    Keystore,
    KeystoreError,
    SM2PrivateKey,
    decrypt_key,
    encrypt_key,
)
from ledger.crypto.keystore import DEFAULT_SCRYPT_N, read_public_key

FAST_N = 2**4  # scrypt work factor for tests only


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture(scope="module")
def document(key: SM2PrivateKey) -> bytes:
    return encrypt_key(key, b"correct horse", scrypt_n=FAST_N)


def _scalar(key: SM2PrivateKey) -> bytes:
    der = key.to_der()
    marker = der.index(bytes.fromhex("0201010420"))  # ECPrivateKey { version 1, OCTET STRING(32)
    return der[marker + 5 : marker + 37]


def test_keystore_error_is_a_crypto_error() -> None:
    assert issubclass(KeystoreError, CryptoError)


def test_round_trip(key: SM2PrivateKey, document: bytes) -> None:
    loaded = decrypt_key(document, b"correct horse")
    assert loaded.public_key() == key.public_key()
    assert loaded.to_der() == key.to_der()
    key.public_key().verify(loaded.sign(b"m"), b"m")


def test_document_format(key: SM2PrivateKey, document: bytes) -> None:
    parsed = json.loads(document)
    assert parsed["version"] == 1
    assert parsed["kdf"] == "scrypt" and parsed["cipher"] == "sm4-gcm"
    assert parsed["kdfparams"]["n"] == FAST_N
    assert parsed["kdfparams"]["r"] == 8 and parsed["kdfparams"]["p"] == 1
    assert len(bytes.fromhex(parsed["kdfparams"]["salt"])) == 16
    assert len(bytes.fromhex(parsed["nonce"])) == 12
    assert parsed["public_key"] == key.public_key().to_raw().hex()
    assert parsed["fingerprint"] == "sm3:" + key.public_key().fingerprint().hex()
    assert read_public_key(document) == key.public_key()


def test_default_work_factor(key: SM2PrivateKey) -> None:
    assert DEFAULT_SCRYPT_N == 2**15
    document = encrypt_key(key, b"pw")
    assert json.loads(document)["kdfparams"]["n"] == 2**15
    assert decrypt_key(document, b"pw").public_key() == key.public_key()


def test_fresh_salt_and_nonce(key: SM2PrivateKey) -> None:
    a = json.loads(encrypt_key(key, b"pw", scrypt_n=FAST_N))
    b = json.loads(encrypt_key(key, b"pw", scrypt_n=FAST_N))
    assert a["kdfparams"]["salt"] != b["kdfparams"]["salt"]
    assert a["nonce"] != b["nonce"] and a["ciphertext"] != b["ciphertext"]


def test_no_plaintext_key_material(key: SM2PrivateKey, document: bytes) -> None:
    secrets = [key.to_der(), _scalar(key)]
    for secret in secrets:
        for form in (
            secret,
            secret.hex().encode(),
            secret.hex().upper().encode(),
            base64.b64encode(secret),
        ):
            assert form not in document
    assert b"PRIVATE KEY" not in document


def test_wrong_password(document: bytes) -> None:
    for wrong in (b"correct horsE", b"correct horse ", b"x"):
        with pytest.raises(KeystoreError, match="wrong password"):
            decrypt_key(document, wrong)


def test_empty_password_refused(key: SM2PrivateKey) -> None:
    with pytest.raises(ValueError, match=r"^an empty password is not allowed for a keystore$"):
        encrypt_key(key, b"", scrypt_n=FAST_N)


def _edit(document: bytes, change: dict[str, object]) -> bytes:
    parsed = json.loads(document)
    for path, value in change.items():
        target = parsed
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return json.dumps(parsed).encode()


def _flip_hex(text: str, index: int = 0) -> str:
    digit = "0123456789abcdef".index(text[index])
    return text[:index] + "0123456789abcdef"[digit ^ 1] + text[index + 1 :]


def test_tampered_documents_are_rejected(document: bytes) -> None:
    parsed = json.loads(document)
    other = SM2PrivateKey.generate().public_key()
    tampered = [
        _edit(document, {"ciphertext": _flip_hex(parsed["ciphertext"], 10)}),
        _edit(document, {"ciphertext": _flip_hex(parsed["ciphertext"], -1)}),
        _edit(document, {"ciphertext": parsed["ciphertext"][:-2]}),
        _edit(document, {"nonce": _flip_hex(parsed["nonce"])}),
        _edit(document, {"kdfparams.salt": _flip_hex(parsed["kdfparams"]["salt"])}),
        _edit(document, {"kdfparams.n": FAST_N * 2}),
        _edit(document, {"kdfparams.r": 4}),
        # a consistent but different public key: caught by the AAD binding
        _edit(
            document,
            {"public_key": other.to_raw().hex(), "fingerprint": "sm3:" + other.fingerprint().hex()},
        ),
        _edit(document, {"fingerprint": "sm3:" + "00" * 32}),
        _edit(document, {"public_key": "04" + "00" * 64}),
        _edit(document, {"version": 2}),
        _edit(document, {"version": True}),
        _edit(document, {"kdf": "pbkdf2"}),
        _edit(document, {"cipher": "aes-gcm"}),
        _edit(document, {"extra": 1}),
        _edit(document, {"kdfparams.n": 3}),
        _edit(document, {"kdfparams.n": 2**40}),
        _edit(document, {"ciphertext": "zz"}),
        document[:-20],
        b"",
        b"[]",
        b"\xff\xfe",
    ]
    for bad in tampered:
        with pytest.raises(
            KeystoreError,
            match=r"^(keystore |unsupported keystore version|unsupported kdf/|wrong password)",
        ):
            decrypt_key(bad, b"correct horse")


def test_unknown_version_message(document: bytes) -> None:
    with pytest.raises(KeystoreError, match="version"):
        decrypt_key(_edit(document, {"version": 2}), b"correct horse")


# --- the directory-backed Keystore -------------------------------------------------------------
def test_keystore_directory(tmp_path: Path) -> None:
    store = Keystore(directory=tmp_path / "keys", scrypt_n=FAST_N)
    assert store.names() == []
    created = store.create("broker-a", b"pw-a")
    other = SM2PrivateKey.generate()
    store.save("broker_b.2", other, b"pw-b")
    assert store.names() == ["broker-a", "broker_b.2"]
    assert store.load("broker-a", b"pw-a").public_key() == created.public_key()
    assert store.load("broker_b.2", b"pw-b").to_der() == other.to_der()
    assert store.public_key("broker-a") == created.public_key()  # no password needed
    with pytest.raises(KeystoreError, match=r"^wrong password, or the keystore was tampered with$"):
        store.load("broker-a", b"pw-b")
    with pytest.raises(KeystoreError, match="no key named"):
        store.load("missing", b"pw")
    with pytest.raises(KeystoreError, match="no key named"):
        store.public_key("missing")


def test_files_are_0600_and_no_temp_files_remain(tmp_path: Path) -> None:
    store = Keystore(directory=tmp_path, scrypt_n=FAST_N)
    key = store.create("k1", b"pw")
    path = tmp_path / "k1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.save("k1", SM2PrivateKey.generate(), b"pw", overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k1.json"]
    assert key.to_der() not in path.read_bytes()


def test_keystore_directory_is_private(tmp_path: Path) -> None:
    Keystore(directory=tmp_path / "new", scrypt_n=FAST_N).create("k", b"pw")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_existing_key_is_not_overwritten_by_accident(tmp_path: Path) -> None:
    store = Keystore(directory=tmp_path, scrypt_n=FAST_N)
    first = store.create("k", b"pw")
    with pytest.raises(KeystoreError, match="already exists"):
        store.create("k", b"pw")
    with pytest.raises(KeystoreError, match="already exists"):
        store.save("k", SM2PrivateKey.generate(), b"pw")
    assert store.load("k", b"pw").public_key() == first.public_key()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../evil",
        "a/b",
        "a\\b",
        "/abs",
        ".hidden",
        "..",
        "-flag",
        "x" * 129,
        "a\x00b",
        "k.json/",
        "caf\u00e9",
    ],
)
def test_invalid_names(tmp_path: Path, name: str) -> None:
    store = Keystore(directory=tmp_path, scrypt_n=FAST_N)
    with pytest.raises(KeystoreError, match="invalid key name"):
        store.save(name, SM2PrivateKey.generate(), b"pw")
    with pytest.raises(KeystoreError, match="invalid key name"):
        store.load(name, b"pw")
    assert list(tmp_path.iterdir()) == []


def test_tampered_file_on_disk(tmp_path: Path) -> None:
    store = Keystore(directory=tmp_path, scrypt_n=FAST_N)
    store.create("k", b"pw")
    path = tmp_path / "k.json"
    parsed = json.loads(path.read_bytes())
    parsed["ciphertext"] = _flip_hex(parsed["ciphertext"], 3)
    path.write_text(json.dumps(parsed))
    with pytest.raises(KeystoreError, match=r"^wrong password, or the keystore was tampered with$"):
        store.load("k", b"pw")
    path.write_bytes(b"{not json")
    with pytest.raises(
        KeystoreError,
        match=r"^keystore document is not JSON: Expecting property name enclosed in double ",
    ):
        store.load("k", b"pw")
    with pytest.raises(
        KeystoreError,
        match=r"^keystore document is not JSON: Expecting property name enclosed in double ",
    ):
        store.public_key("k")


def test_constructor_is_keyword_only(tmp_path: Path) -> None:
    with pytest.raises(
        TypeError, match=r"^Keystore\.__init__\(\) takes 1 positional argument but 2 were given$"
    ):
        Keystore(tmp_path)  # type: ignore[call-arg]


def test_remove_deletes_one_key_and_refuses_an_unknown_name(tmp_path: Path) -> None:
    store = Keystore(directory=tmp_path, scrypt_n=FAST_N)
    store.create("kept", b"pw")
    store.create("made-in-vain", b"pw")
    store.remove("made-in-vain")
    assert store.names() == ["kept"]
    with pytest.raises(KeystoreError, match="no key named 'made-in-vain'"):
        store.remove("made-in-vain")
    with pytest.raises(KeystoreError, match="invalid key name"):
        store.remove("../kept")
    assert store.names() == ["kept"]
