"""Signing a request (RFC 9421) with an SM2 key: what the client does before each call.

Each request gets a ``Content-Digest`` of its body (RFC 9530; SHA-256 or SM3, also for an empty
body) and one signature, label ``ledger``, covering ``@method``, ``@target-uri`` and
``content-digest`` with the parameters ``created``, ``keyid``, ``alg`` (``sm2-sm3``) and a
fresh 128-bit ``nonce``. The signature base is built by ``http-message-signatures``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Literal

from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver

from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig._algorithm import CONTENT_DIGESTS, SM2_SM3
from ledger.httpsig._message import REQUIRED_COMPONENTS, Message
from ledger.httpsig.keys import default_keyid

__all__ = ["SIGNATURE_LABEL", "RequestSigner"]

SIGNATURE_LABEL = "ledger"
#: Random bytes in each nonce (base64url: 22 characters).
NONCE_BYTES = 16


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _OwnKey(HTTPSignatureKeyResolver):
    def __init__(self, key: SM2PrivateKey) -> None:
        self._key = key

    def resolve_private_key(self, key_id: str) -> SM2PrivateKey:
        return self._key


class RequestSigner:
    """Signs requests with one SM2 key; thread-safe (it keeps no per-request state)."""

    def __init__(
        self,
        *,
        key: SM2PrivateKey,
        keyid: str | None = None,
        digest: Literal["sha-256", "sm3"] = "sha-256",
        expires_after_s: float | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if digest not in CONTENT_DIGESTS:
            raise ValueError(f"digest is one of {sorted(CONTENT_DIGESTS)}, not {digest!r}")
        if expires_after_s is not None and expires_after_s <= 0:
            raise ValueError("expires_after_s must be positive")
        self.keyid = keyid if keyid is not None else default_keyid(key.public_key())
        self._signer = HTTPMessageSigner(signature_algorithm=SM2_SM3, key_resolver=_OwnKey(key))
        self._signer.content_digest_class = CONTENT_DIGESTS[digest]
        self._expires_after = (
            None if expires_after_s is None else timedelta(seconds=expires_after_s)
        )
        self._clock = clock or _utc_now

    def sign(
        self, *, method: str, url: str, headers: MutableMapping[str, str], body: bytes
    ) -> None:
        """Add ``Content-Digest``, ``Signature-Input`` and ``Signature`` to ``headers``.

        ``url`` is the absolute, encoded URL the request goes to (its ``@target-uri``);
        ``headers`` must not carry a ``Content-Digest`` yet.
        """
        created = self._clock()
        self._signer.sign(
            Message(method=method.upper(), url=url, headers=headers),
            key_id=self.keyid,
            created=created,
            expires=None if self._expires_after is None else created + self._expires_after,
            nonce=secrets.token_urlsafe(NONCE_BYTES),
            label=SIGNATURE_LABEL,
            covered_component_ids=REQUIRED_COMPONENTS,
            body=bytes(body),
        )
