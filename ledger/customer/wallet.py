"""The customer's wallet: its SM2 key, kept in a password-encrypted keystore file, and the
signing of its consents (grants, revocations, per-use authorizations).

Every signature is SM2 (GB/T 32918.2, default distinguishing ID) over the 32-byte digest the
ConsentRegistry documents (:func:`~ledger.chain.consent.grant_digest` and its siblings), DER
encoded, so a service verifies it with :func:`ledger.chain.consent.signs` and a later on-chain
verifier checks the very same bytes. Names (fields, purposes, the processing method, data
categories) are given as names and signed as name IDs (keccak256 of the UTF-8 name).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ledger.chain._binding import name_id
from ledger.chain.consent import Grant, Mode, Notice, Revocation, UseAuthorization
from ledger.crypto.errors import CryptoError
from ledger.crypto.keystore import decrypt_key, encrypt_key, read_public_key
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.crypto.sm3 import sm3
from ledger.customer.documents import ConsentDomain, SignedGrant, SignedRevocation, SignedUse
from ledger.customer.errors import WalletError
from ledger.member.directory import customer_keyid

__all__ = ["CustomerWallet", "read_wallet_public_key"]

_MAX_KEYSTORE = 64 * 1024


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_MAX_KEYSTORE + 1)
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_wallet_public_key(path: Path) -> SM2PublicKey:
    """The public key of the keystore file at ``path`` (no password needed)."""
    try:
        return read_public_key(_read(path))
    except CryptoError as exc:
        raise WalletError(f"{path}: {exc}") from None


class CustomerWallet:
    """One customer's key and what it signs. ``random`` gives nonces (32 bytes each);
    ``clock`` the time a per-use authorization is made."""

    def __init__(
        self,
        *,
        key: SM2PrivateKey,
        random: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.key = key
        self._random = random
        self._clock = clock

    # -- the keystore file -------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, password: bytes, *, scrypt_n: int | None = None) -> CustomerWallet:
        """A new key, written to ``path`` (which must not exist) encrypted under ``password``,
        mode 0600."""
        key = SM2PrivateKey.generate()
        options = {} if scrypt_n is None else {"scrypt_n": scrypt_n}
        try:
            document = encrypt_key(key, password, **options)
        except ValueError as exc:
            raise WalletError(str(exc)) from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise WalletError(f"{path} exists: a customer key is not replaced") from None
        except OSError as exc:
            raise WalletError(f"cannot create {path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        return cls(key=key)

    @classmethod
    def open(cls, path: Path, password: bytes) -> CustomerWallet:
        """The key in the keystore file at ``path``; :class:`WalletError` for a wrong password
        or a damaged file."""
        try:
            return cls(key=decrypt_key(_read(path), password))
        except (CryptoError, ValueError) as exc:
            raise WalletError(f"{path}: {exc}") from None

    # -- who the customer is ----------------------------------------------------------------
    @property
    def public_key(self) -> SM2PublicKey:
        return self.key.public_key()

    @property
    def keyid(self) -> str:
        """The keyid the customer signs requests with (``sm2:<raw public key hex>``)."""
        return customer_keyid(self.public_key)

    # -- signing -----------------------------------------------------------------------------
    def nonce(self) -> bytes:
        return self._random(32)

    def grant(
        self,
        domain: ConsentDomain,
        *,
        grantee: str,
        attestation_id: bytes,
        fields: Sequence[str],
        purposes: Sequence[str],
        method: str,
        not_before: int,
        not_after: int,
        notice_text: str,
        recipient_name: str,
        recipient_contact: str,
        categories: Sequence[str],
        sensitive: bool,
        language: str,
        max_uses: int = 0,
        mode: Mode = Mode.STANDING,
        separate_consent: bool = True,
    ) -> SignedGrant:
        """Sign a grant to ``grantee`` under the attestation, with a fresh nonce and the PIPL
        Art. 23 notice the customer saw (its digest: SM3 of ``notice_text`` in UTF-8)."""
        grant = Grant(
            grantee=grantee,
            attestation_id=attestation_id,
            fields=tuple(name_id(f) for f in fields),
            purposes=tuple(name_id(p) for p in purposes),
            processing_method=name_id(method),
            not_before=not_before,
            not_after=not_after,
            max_uses=max_uses,
            mode=mode,
            nonce=self.nonce(),
            notice=Notice(
                recipient_name=recipient_name,
                recipient_contact=recipient_contact,
                data_categories=tuple(name_id(c) for c in categories),
                sensitive=sensitive,
                notice_digest=sm3(notice_text.encode("utf-8")),
                language=language,
                separate_consent=separate_consent,
            ),
        )
        return self.sign_grant(domain, grant)

    def sign_grant(self, domain: ConsentDomain, grant: Grant) -> SignedGrant:
        unsigned = SignedGrant(domain, grant, b"")
        return SignedGrant(domain, grant, self.key.sign(unsigned.digest))

    def revoke(self, domain: ConsentDomain, grant_id: bytes) -> SignedRevocation:
        """Sign the revocation of the grant ``grant_id`` (a fresh nonce)."""
        unsigned = SignedRevocation(domain, Revocation(grant_id, self.nonce()), b"")
        return SignedRevocation(domain, unsigned.revocation, self.key.sign(unsigned.digest))

    def authorize_use(
        self,
        domain: ConsentDomain,
        *,
        grant_id: bytes,
        grantee: str,
        fields: Sequence[str],
        purpose: str,
    ) -> SignedUse:
        """Sign one use of a per-use grant: these fields, this purpose, by ``grantee``, now."""
        use = UseAuthorization(
            grant_id=grant_id,
            grantee=grantee,
            fields=tuple(name_id(f) for f in fields),
            purpose=name_id(purpose),
            nonce=self.nonce(),
            requested_at=int(self._clock().timestamp()),
        )
        unsigned = SignedUse(domain, use, b"")
        return SignedUse(domain, use, self.key.sign(unsigned.digest))

    def __repr__(self) -> str:
        return f"CustomerWallet({self.keyid[:20]}...)"
