"""Password-encrypted keystore for SM2 private keys: no plaintext private key ever touches disk.

One key is one JSON document (version 1)::

    {"version": 1,
     "kdf": "scrypt", "kdfparams": {"n": 32768, "r": 8, "p": 1, "dklen": 16, "salt": "<hex>"},
     "cipher": "sm4-gcm", "nonce": "<hex 12 bytes>",
     "ciphertext": "<hex: SM4-GCM(PKCS#8 DER) || tag>",
     "public_key": "<hex 65-byte 04||x||y>", "fingerprint": "sm3:<hex SM3(public_key)>"}

The SM4 key is scrypt(password, salt); every field except ``ciphertext`` is bound as AAD (as
canonical JSON: sorted keys, no spaces), so a tampered header fails exactly like a wrong password.
The public key is readable without the password.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger import canonical
from ledger.crypto import sm4
from ledger.crypto.errors import CryptoError, DecryptionError, KeystoreError
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey

__all__ = [
    "DEFAULT_SCRYPT_N",
    "FORMAT_VERSION",
    "Keystore",
    "decrypt_key",
    "encrypt_key",
    "read_public_key",
]

FORMAT_VERSION: Final = 1
DEFAULT_SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_SIZE: Final = 16
_MAX_SCRYPT_MEMORY = 1 << 30  # refuse files asking for more than 1 GiB (128 * n * r bytes)
_MAX_DOCUMENT = 64 * 1024
_HEADER_FIELDS = frozenset(
    {"version", "kdf", "kdfparams", "cipher", "nonce", "public_key", "fingerprint"}
)
_KDFPARAMS_FIELDS = frozenset({"n", "r", "p", "dklen", "salt"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SUFFIX = ".json"


def _check_password(password: bytes) -> bytes:
    if not isinstance(password, bytes | bytearray):
        raise TypeError("password must be bytes")
    if not password:
        raise ValueError("an empty password is not allowed for a keystore")
    return bytes(password)


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=sm4.KEY_SIZE, n=n, r=r, p=p).derive(password)


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _fingerprint_text(public: SM2PublicKey) -> str:
    return canonical.label("sm3", public.fingerprint())


def encrypt_key(key: SM2PrivateKey, password: bytes, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> bytes:
    """The keystore JSON document (UTF-8 bytes) holding ``key`` encrypted under ``password``.

    ``scrypt_n`` must be a power of two; lower it only in tests.
    """
    password = _check_password(password)
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
        raise ValueError("scrypt_n must be a power of two >= 2")
    salt = os.urandom(SALT_SIZE)
    nonce = os.urandom(sm4.NONCE_SIZE)
    public = key.public_key()
    header: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "kdf": "scrypt",
        "kdfparams": {
            "n": scrypt_n,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "dklen": sm4.KEY_SIZE,
            "salt": salt.hex(),
        },
        "cipher": "sm4-gcm",
        "nonce": nonce.hex(),
        "public_key": public.to_raw().hex(),
        "fingerprint": _fingerprint_text(public),
    }
    secret_key = _derive(password, salt, scrypt_n, SCRYPT_R, SCRYPT_P)
    ciphertext = sm4.encrypt_with_nonce(secret_key, nonce, key.to_der(), aad=_aad(header))
    document = {**header, "ciphertext": ciphertext.hex()}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _parse(data: bytes) -> tuple[dict[str, Any], bytes, SM2PublicKey]:
    """Parse and sanity-check a document: (header, ciphertext, public key). No password needed."""
    if len(data) > _MAX_DOCUMENT:
        raise KeystoreError("keystore document is too large")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"keystore document is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise KeystoreError("keystore document is not a JSON object")
    version = document.get("version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise KeystoreError(f"unsupported keystore version: {version!r}")
    if set(document) != _HEADER_FIELDS | {"ciphertext"}:
        raise KeystoreError("keystore document has missing or unexpected fields")
    header = {field: document[field] for field in _HEADER_FIELDS}
    if header["kdf"] != "scrypt" or header["cipher"] != "sm4-gcm":
        raise KeystoreError(f"unsupported kdf/cipher: {header['kdf']!r}/{header['cipher']!r}")
    params = header["kdfparams"]
    if not isinstance(params, dict) or set(params) != _KDFPARAMS_FIELDS:
        raise KeystoreError("keystore kdfparams are malformed")
    n, r, p, dklen = params["n"], params["r"], params["p"], params["dklen"]
    if not all(type(v) is int for v in (n, r, p, dklen)):
        raise KeystoreError("keystore kdfparams are malformed")
    if (
        n < 2
        or n & (n - 1)
        or not 1 <= r <= 64
        or not 1 <= p <= 16
        or dklen != sm4.KEY_SIZE
        or 128 * n * r > _MAX_SCRYPT_MEMORY
    ):
        raise KeystoreError("keystore kdfparams are out of range")
    try:
        salt = bytes.fromhex(params["salt"])
        nonce = bytes.fromhex(header["nonce"])
        ciphertext = bytes.fromhex(document["ciphertext"])
        raw_public = bytes.fromhex(header["public_key"])
    except (TypeError, ValueError):
        raise KeystoreError("keystore document has a malformed hex field") from None
    if len(salt) < SALT_SIZE or len(nonce) != sm4.NONCE_SIZE or len(ciphertext) <= sm4.TAG_SIZE:
        raise KeystoreError("keystore salt, nonce or ciphertext has the wrong size")
    try:
        public = SM2PublicKey.from_raw(raw_public)
    except CryptoError as exc:
        raise KeystoreError(f"keystore public key is invalid: {exc}") from None
    if header["fingerprint"] != _fingerprint_text(public):
        raise KeystoreError("keystore fingerprint does not match its public key")
    return header, nonce + ciphertext, public


def read_public_key(data: bytes) -> SM2PublicKey:
    """The public key recorded in a keystore document (no password needed)."""
    return _parse(data)[2]


def decrypt_key(data: bytes, password: bytes) -> SM2PrivateKey:
    """Open a document made by :func:`encrypt_key`.

    Raises :class:`KeystoreError` for a wrong password, a tampered or corrupt document, or an
    unknown version.
    """
    password = _check_password(password)
    header, blob, public = _parse(data)
    params = header["kdfparams"]
    secret_key = _derive(
        password, bytes.fromhex(params["salt"]), params["n"], params["r"], params["p"]
    )
    try:
        der = sm4.decrypt(secret_key, blob, aad=_aad(header))
    except DecryptionError:
        raise KeystoreError("wrong password, or the keystore was tampered with") from None
    try:
        key = SM2PrivateKey.from_der(der)
    except CryptoError as exc:
        raise KeystoreError(f"keystore holds an invalid key: {exc}") from None
    if key.public_key() != public:
        raise KeystoreError("keystore private key does not match its public key")
    return key


class Keystore:
    """A directory of keystore documents, one ``<name>.json`` per key, each mode 0600."""

    def __init__(self, *, directory: Path, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        self.directory = Path(directory)
        self.scrypt_n = scrypt_n

    def _path(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise KeystoreError(
                f"invalid key name {name!r}: use 1-128 of A-Z a-z 0-9 . _ -, "
                "starting with a letter or digit"
            )
        return self.directory / (name + _SUFFIX)

    def _read(self, name: str) -> bytes:
        path = self._path(name)
        try:
            with path.open("rb") as handle:
                return handle.read(_MAX_DOCUMENT + 1)
        except FileNotFoundError:
            raise KeystoreError(f"no key named {name!r} in {self.directory}") from None
        except OSError as exc:
            raise KeystoreError(f"cannot read key {name!r}: {exc}") from None

    def names(self) -> list[str]:
        """The names of the keys in the directory, sorted."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            stem = entry.name[: -len(_SUFFIX)]
            if entry.name.endswith(_SUFFIX) and _NAME.fullmatch(stem) and entry.is_file():
                found.append(stem)
        return sorted(found)

    def create(self, name: str, password: bytes) -> SM2PrivateKey:
        """Generate a new key, store it under ``name`` (which must not exist yet), return it."""
        key = SM2PrivateKey.generate()
        self.save(name, key, password)
        return key

    def save(
        self, name: str, key: SM2PrivateKey, password: bytes, *, overwrite: bool = False
    ) -> None:
        """Encrypt ``key`` under ``password`` and write it atomically with mode 0600.

        Refuses to replace an existing key unless ``overwrite=True``: losing a signing key is not
        something to do by accident.
        """
        path = self._path(name)
        document = encrypt_key(key, password, scrypt_n=self.scrypt_n)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
            if overwrite:
                os.replace(temp_name, path)
            else:
                try:
                    os.link(temp_name, path)  # atomic, and fails if the name is taken
                except FileExistsError:
                    raise KeystoreError(f"a key named {name!r} already exists") from None
                os.unlink(temp_name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        self._fsync_directory()

    def remove(self, name: str) -> None:
        """Delete key ``name`` (a key just made whose use failed: nothing signed with it)."""
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            raise KeystoreError(f"no key named {name!r} in {self.directory}") from None
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def load(self, name: str, password: bytes) -> SM2PrivateKey:
        return decrypt_key(self._read(name), password)

    def public_key(self, name: str) -> SM2PublicKey:
        """The public key of ``name``; needs no password."""
        return read_public_key(self._read(name))
