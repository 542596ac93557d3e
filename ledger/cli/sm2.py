"""``ledger sm2``: SM2 (GB/T 32918) signatures from the command line, interoperable with openssl.

    ledger sm2 keygen --out-key k.pem --out-pub pub.pem
    ledger sm2 sign --key k.pem [--id ID] [--out sig.der] FILE
    ledger sm2 verify --pub pub.pem --sig sig.der [--id ID] FILE   # exit 0 valid, 1 invalid

Keys may also live in an encrypted keystore (``--keystore DIR --name NAME``); its password comes
from ``$LEDGER_KEY_PASSWORD`` or a prompt. Unreadable or malformed inputs are errors (exit 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ledger import canonical
from ledger._ids import DEFAULT_DISTID
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey

PASSWORD_ENV = "LEDGER_KEY_PASSWORD"
DEFAULT_ID = DEFAULT_DISTID.decode("ascii")
_MAX_KEY_FILE = 1 << 20


class InputFileError(LedgerError):
    """A file named on the command line cannot be read or written."""


def _read(path: Path, what: str, *, limit: int | None = None) -> bytes:
    try:
        if str(path) == "-":
            return sys.stdin.buffer.read()
        with path.open("rb") as handle:
            data = handle.read() if limit is None else handle.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if limit is not None and len(data) > limit:
        raise InputFileError(f"{what} {path} is too large to be a key")
    return data


def _write_new(path: Path, data: bytes, *, mode: int, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except FileExistsError:
        raise InputFileError(f"{path} exists (use --force to overwrite)") from None
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def _distid(text: str) -> bytes:
    if not text:
        raise click.BadParameter("the distinguishing ID must not be empty", param_hint="--id")
    return text.encode("utf-8")


def _password(*, confirm: bool = False) -> bytes:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env.encode("utf-8")
    if not sys.stdin.isatty():
        raise InputFileError(f"no keystore password: set ${PASSWORD_ENV} or run on a terminal")
    value: str = click.prompt(
        "Keystore password", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return value.encode("utf-8")


def load_private(
    key: Path | None, keystore: Path | None, name: str | None, *, key_option: str = "--key"
) -> SM2PrivateKey:
    """The private key of ``--key FILE`` (an unencrypted PEM, or one keystore document, whose
    password comes as for ``--keystore``) or of ``--keystore DIR --name NAME``."""
    from ledger.crypto.keystore import Keystore, decrypt_key
    from ledger.crypto.sm2 import SM2PrivateKey

    if key is not None and keystore is None and name is None:
        data = _read(key, "key file", limit=_MAX_KEY_FILE)
        if data.lstrip().startswith(b"{"):
            return decrypt_key(data, _password())
        return SM2PrivateKey.from_pem(data)
    if key is None and keystore is not None and name is not None:
        return Keystore(directory=keystore).load(name, _password())
    raise click.UsageError(f"give either {key_option} KEY.pem, or --keystore DIR with --name NAME")


def _load_public(pub: Path | None, keystore: Path | None, name: str | None) -> SM2PublicKey:
    from ledger.crypto.keystore import Keystore
    from ledger.crypto.sm2 import SM2PublicKey

    if pub is not None and keystore is None and name is None:
        data = _read(pub, "public key file", limit=_MAX_KEY_FILE)
        if b"PRIVATE KEY-----" in data:
            raise InputFileError(
                f"{pub} holds a private key: pass the public key (openssl pkey -pubout)"
            )
        if b"-----BEGIN" in data:
            return SM2PublicKey.from_pem(data)
        return SM2PublicKey.from_der(data)
    if pub is None and keystore is not None and name is not None:
        return Keystore(directory=keystore).public_key(name)
    raise click.UsageError("give either --pub PUB.pem, or --keystore DIR with --name NAME")


_path = click.Path(dir_okay=False, path_type=Path)
_file_or_stdin = click.Path(dir_okay=False, path_type=Path, allow_dash=True)
_directory = click.Path(file_okay=False, path_type=Path)


@click.group("sm2")
def sm2() -> None:
    """SM2 signatures (GB/T 32918.2, SM3, distinguishing ID), openssl-compatible."""


@sm2.command("sign")
@click.option(
    "--key",
    "key_path",
    type=_path,
    help="Unencrypted PEM private key (PKCS#8/SEC1), or one keystore document.",
)
@click.option("--keystore", type=_directory, help="Keystore directory (with --name).")
@click.option("--name", help="Key name in the keystore.")
@click.option("--id", "distid", default=DEFAULT_ID, show_default=True, help="Distinguishing ID.")
@click.option("--out", type=_path, help="Write the DER signature here (default: stdout).")
@click.argument("file", type=_file_or_stdin)
def sign_command(
    key_path: Path | None,
    keystore: Path | None,
    name: str | None,
    distid: str,
    out: Path | None,
    file: Path,
) -> None:
    """Sign FILE ('-' for stdin); write the DER SEQUENCE{r, s} signature."""
    ident = _distid(distid)
    private = load_private(key_path, keystore, name)
    signature = private.sign(_read(file, "input file"), distid=ident)
    if out is None:
        stream = sys.stdout.buffer
        stream.write(signature)
        stream.flush()
    else:
        _write_new(out, signature, mode=0o644, force=True)


@sm2.command("verify")
@click.option("--pub", type=_path, help="PEM (or DER) SubjectPublicKeyInfo.")
@click.option("--keystore", type=_directory, help="Keystore directory (with --name).")
@click.option("--name", help="Key name in the keystore.")
@click.option("--sig", "sig_path", type=_path, required=True, help="DER signature file.")
@click.option("--id", "distid", default=DEFAULT_ID, show_default=True, help="Distinguishing ID.")
@click.argument("file", type=_file_or_stdin)
@click.pass_context
def verify_command(
    ctx: click.Context,
    pub: Path | None,
    keystore: Path | None,
    name: str | None,
    sig_path: Path,
    distid: str,
    file: Path,
) -> None:
    """Verify a signature of FILE: prints 'valid' (exit 0) or 'invalid: reason' (exit 1)."""
    from ledger.crypto.errors import InvalidSignature

    ident = _distid(distid)
    public = _load_public(pub, keystore, name)
    signature = _read(sig_path, "signature file", limit=_MAX_KEY_FILE)
    message = _read(file, "input file")
    try:
        public.verify(signature, message, distid=ident)
    except InvalidSignature as exc:
        click.echo(f"invalid: {exc} (wrong file, key or ID, or a malformed signature)")
        ctx.exit(1)
    click.echo("valid")


@sm2.command("keygen")
@click.option("--out-key", type=_path, help="Write the unencrypted PKCS#8 PEM private key here.")
@click.option("--out-pub", type=_path, help="Write the PEM public key here.")
@click.option("--keystore", type=_directory, help="Store the key encrypted in this keystore.")
@click.option("--name", help="Key name in the keystore.")
@click.option("--force", is_flag=True, help="Overwrite existing --out-key/--out-pub files.")
def keygen_command(
    out_key: Path | None,
    out_pub: Path | None,
    keystore: Path | None,
    name: str | None,
    force: bool,
) -> None:
    """Generate an SM2 key pair (for auditors and tests); print its SM3 fingerprint."""
    from ledger.crypto.keystore import Keystore
    from ledger.crypto.sm2 import SM2PrivateKey

    if (keystore is None) != (name is None):
        raise click.UsageError("--keystore and --name go together")
    if keystore is None and out_key is None:
        raise click.UsageError("give --out-key KEY.pem, or --keystore DIR --name NAME")
    if keystore is not None and out_key is not None:
        raise click.UsageError("--out-key and --keystore are exclusive: keep one copy")
    if out_key is not None:
        private = SM2PrivateKey.generate()
        _write_new(out_key, private.to_pem(), mode=0o600, force=force)
    else:
        assert keystore is not None and name is not None  # checked above; narrows for mypy
        private = Keystore(directory=keystore).create(name, _password(confirm=True))
    public = private.public_key()
    if out_pub is not None:
        _write_new(out_pub, public.to_pem(), mode=0o644, force=force)
    click.echo(canonical.label("sm3", public.fingerprint()))
