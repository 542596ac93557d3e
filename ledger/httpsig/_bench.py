"""What request signing costs per call (``ledger bench httpsig``), beside ``openssl speed sm2``
measured in the same run.

Single thread. A request is ``POST https://member-a.example/v1/agreements`` with a 1 KiB JSON
body (a GET has an empty one: the digest costs nothing then). Measured: signing (digest, base,
SM2 signature, the fields), verification without the nonce store (parsing, policy, key lookup,
base, SM2 verification, digest), the nonce store's insert-or-refuse on the given database (one
durable transaction: on SQLite with ``synchronous=FULL`` an fsync), and our bare SM2 sign and
verify of the same size, to show what the protocol adds to the algorithm. Then the nonce store
under concurrency (:data:`THREADS` threads at once): each nonce committed on its own, and
grouped into shared transactions as the service does (``NonceCommitter``), in µs of wall time
per nonce.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.crypto._bench import _rate, openssl_sm2
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import open_database, upgrade
from ledger.httpsig.keys import KeyTable, RegisteredKey, default_keyid
from ledger.httpsig.sign import RequestSigner
from ledger.httpsig.verify import RequestVerifier
from ledger.service._committer import NonceCommitter

__all__ = ["format_table", "run"]

URL = "https://member-a.example/v1/agreements"
#: Concurrent callers in the nonce-store-under-load measurements.
THREADS = 16
BODY_SIZE = 1024


class _Unrecorded:
    """A nonce store that records nothing: verification's own cost, without the database."""

    def remember_nonce(self, keyid: str, nonce: str, **_: datetime) -> bool:
        return True


def run(*, seconds: float, database_url: str | None = None) -> dict[str, Any]:
    """Measure for about ``seconds`` each; nonces go to ``database_url`` (migrated here), else
    to a fresh SQLite file."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    key = SM2PrivateKey.generate()
    body = os.urandom(BODY_SIZE // 2).hex().encode()
    now = datetime.now(UTC)
    entry = RegisteredKey(
        keyid=default_keyid(key.public_key()),
        member_id="member-a",
        roles=frozenset({"broker"}),
        public_key=key.public_key(),
        valid_from=now - timedelta(days=1),
    )
    signers = {d: RequestSigner(key=key, digest=d) for d in ("sha-256", "sm3")}

    def sign(digest: str) -> dict[str, str]:
        headers = {"Host": "member-a.example", "Content-Type": "application/json"}
        signers[digest].sign(method="POST", url=URL, headers=headers, body=body)
        return headers

    verifier = RequestVerifier(
        keys=KeyTable([entry]), nonces=_Unrecorded(), max_age_s=300, max_skew_s=30
    )
    signed = list(sign("sha-256").items())
    message = os.urandom(BODY_SIZE)
    signature = key.sign(message)

    result: dict[str, Any] = {"seconds": seconds, "threads": 1, "body_bytes": BODY_SIZE}
    per_s = {
        "sign": _rate(lambda: sign("sha-256"), seconds),
        "sign_sm3_digest": _rate(lambda: sign("sm3"), seconds),
        "verify": _rate(
            lambda: verifier.verify(method="POST", url=URL, headers=signed, body=body), seconds
        ),
        "sm2_sign": _rate(lambda: key.sign(message), seconds),
        "sm2_verify": _rate(lambda: key.public_key().verify(signature, message), seconds),
    }
    with tempfile.TemporaryDirectory(prefix="ledger-bench-httpsig-") as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'nonces.db'}"
        upgrade(url)
        db = open_database(url)
        try:
            counter = itertools.count()
            per_s["nonce_store"] = _rate(
                lambda: db.remember_nonce(
                    entry.keyid,
                    f"bench-nonce-{next(counter):012d}-{os.getpid()}",
                    created_at=now,
                    expires_at=now + timedelta(seconds=330),
                    now=now,
                ),
                seconds,
            )
            result["database"] = db.backend

            def nonce_via(store: Any) -> Callable[[], object]:
                return lambda: store.remember_nonce(
                    entry.keyid,
                    f"bench-nonce-{next(counter):012d}-{os.getpid()}",
                    created_at=now,
                    expires_at=now + timedelta(seconds=330),
                    now=now,
                )

            per_s["nonce_store_threads"] = _threaded_rate(nonce_via(db), seconds)
            grouped = NonceCommitter(database=db)
            grouped.start()
            try:
                per_s["nonce_store_grouped"] = _threaded_rate(nonce_via(grouped), seconds)
            finally:
                grouped.stop()
        finally:
            db.close()
    for name, rate in per_s.items():
        result[f"{name}_us"] = 1e6 / rate
    reference = openssl_sm2(max(1, round(seconds)))
    result["openssl_sm2_sign_us"] = 1e6 / reference[0] if reference else None
    result["openssl_sm2_verify_us"] = 1e6 / reference[1] if reference else None
    result["verify_with_nonce_us"] = result["verify_us"] + result["nonce_store_us"]
    return result


def _threaded_rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of wall time with :data:`THREADS` threads calling at once."""
    start = time.perf_counter()
    deadline = start + seconds

    def loop() -> int:
        done = 0
        while time.perf_counter() < deadline:
            call()
            done += 1
        return done

    with ThreadPoolExecutor(THREADS) as pool:
        total = sum(pool.map(lambda _: loop(), range(THREADS)))
    return total / (time.perf_counter() - start)


def format_table(result: dict[str, Any]) -> str:
    rows = [
        ("sign a request (sha-256 digest)", result["sign_us"]),
        ("sign a request (sm3 digest)", result["sign_sm3_digest_us"]),
        ("verify a request (without nonce store)", result["verify_us"]),
        (f"remember its nonce ({result['database']})", result["nonce_store_us"]),
        ("verify a request, nonce included", result["verify_with_nonce_us"]),
        (
            f"nonces, {THREADS} threads, a commit each (wall µs per nonce)",
            result["nonce_store_threads_us"],
        ),
        (
            f"nonces, {THREADS} threads, grouped commits (wall µs per nonce)",
            result["nonce_store_grouped_us"],
        ),
        ("our SM2 sign (1 KiB message)", result["sm2_sign_us"]),
        ("our SM2 verify (1 KiB message)", result["sm2_verify_us"]),
        ("openssl speed sm2: sign", result["openssl_sm2_sign_us"]),
        ("openssl speed sm2: verify", result["openssl_sm2_verify_us"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'operation'.ljust(width)} | µs per call", f"{'-' * width}-+------------"]
    for name, value in rows:
        cell = "n/a" if value is None else f"{value:,.1f}"
        lines.append(f"{name.ljust(width)} | {cell.rjust(11)}")
    lines.append("")
    lines.append(
        f"single thread but the nonce rows, {result['body_bytes']} B request body, about"
        f" {result['seconds']:g} s per measurement"
    )
    return "\n".join(lines)
