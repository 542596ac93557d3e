"""Micro-benchmark of :mod:`ledger.crypto` against the ``openssl speed`` command, in one run.

Everything is single-threaded. Ours: SM2 sign/verify over a 1 KiB message, SM3 and SM4-GCM over
1 MiB buffers. Reference: ``openssl speed -elapsed -mr`` on the same machine in the same run
(interleaved with ours, best of a few rounds), with ``-bytes 1048576`` for the symmetric
algorithms. OpenSSL 3.0's ``speed`` has no SM4-GCM; then the reference is SM4-CTR (GCM's
keystream without GHASH, so a slightly easier target), as ``openssl_sm4_mode`` says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from ledger.crypto import sm4
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3

__all__ = ["format_table", "openssl_sm2", "run"]

MESSAGE_SIZE = 1024
BUFFER_SIZE = 1 << 20
_MB = 1e6
_FLOAT = r"[0-9]+(?:\.[0-9]*)?"


def _rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second of ``operation`` over about ``seconds`` of wall time."""
    operation()  # warm up: first-call fetches and allocations are not what we measure
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        operation()
        count += 1
        now = time.perf_counter()
    return count / (now - start)


def _openssl_speed(binary: str, seconds: int, *args: str) -> str:
    command = [binary, "speed", "-seconds", str(seconds), "-elapsed", "-mr", *args]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds * 8 + 60, check=False
    )
    if completed.returncode != 0:
        raise CryptoError(
            f"{' '.join(command)} failed ({completed.returncode}): "
            + (completed.stderr.strip().splitlines() or ["no output"])[0]
        )
    return completed.stdout


def parse_sm2(output: str) -> tuple[float, float]:
    """(sign/s, verify/s) from ``openssl speed -mr sm2`` (``+F<n>:<i>:256:CurveSM2:<s>:<v>``)."""
    for line in output.splitlines():
        match = re.fullmatch(rf"\+F\d*:\d+:\d+:[^:]*SM2[^:]*:({_FLOAT}):({_FLOAT})", line.strip())
        if match:
            return float(match.group(1)), float(match.group(2))
    raise CryptoError("no SM2 result line in `openssl speed -mr sm2` output")


def parse_throughput(output: str) -> float:
    """Bytes per second for the single ``-bytes`` size, from an ``+F:<i>:<name>:<B/s>`` line."""
    for line in output.splitlines():
        match = re.fullmatch(rf"\+F:\d+:[^:]+:({_FLOAT})", line.strip())
        if match:
            return float(match.group(1))
    raise CryptoError("no throughput line in `openssl speed -mr` output")


def openssl_sm2(seconds: int) -> tuple[float, float] | None:
    """``openssl speed sm2`` on this machine now: (sign/s, verify/s), or None without openssl."""
    binary = shutil.which("openssl")
    return parse_sm2(_openssl_speed(binary, max(1, seconds), "sm2")) if binary else None


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or not theirs:
        return None
    return ours / theirs


class _OpenSSL:
    """The reference: ``openssl speed`` runs, one call per measurement."""

    def __init__(self, binary: str, seconds: int) -> None:
        self.binary = binary
        self.seconds = seconds
        self.version = subprocess.run(
            [binary, "version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        self.sm4_mode: str | None = None

    def sm2(self) -> tuple[float, float]:
        return parse_sm2(_openssl_speed(self.binary, self.seconds, "sm2"))

    def sm3_mb(self) -> float:
        output = _openssl_speed(
            self.binary, self.seconds, "-bytes", str(BUFFER_SIZE), "-evp", "sm3"
        )
        return parse_throughput(output) / _MB

    def sm4_mb(self) -> float:
        size = str(BUFFER_SIZE)
        if self.sm4_mode in (None, "sm4-gcm"):
            try:
                output = _openssl_speed(
                    self.binary, self.seconds, "-bytes", size, "-aead", "-evp", "sm4-gcm"
                )
                self.sm4_mode = "sm4-gcm"
                return parse_throughput(output) / _MB
            except CryptoError:
                if self.sm4_mode == "sm4-gcm":
                    raise
        self.sm4_mode = "sm4-ctr (this openssl speed has no sm4-gcm)"
        output = _openssl_speed(self.binary, self.seconds, "-bytes", size, "-evp", "sm4-ctr")
        return parse_throughput(output) / _MB


def run(*, seconds: float) -> dict[str, Any]:
    """Measure ours and OpenSSL's numbers in one run.

    The time is split into ``rounds`` (1 to 5, about one per second of ``seconds``); each round
    measures every metric once for ours and once with ``openssl speed``, alternating which goes
    first, and each number reported is the best round. Interleaving and best-of keep a busy
    machine from favouring whichever side happened to run in a quiet moment. ``openssl speed``
    takes whole seconds, so its runs last ``max(1, round(seconds / rounds))`` s each.
    """
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    rounds = min(5, max(1, round(seconds)))
    per_round = seconds / rounds
    binary = shutil.which("openssl")
    reference = _OpenSSL(binary, max(1, round(per_round))) if binary else None

    key = SM2PrivateKey.generate()
    public = key.public_key()
    message = os.urandom(MESSAGE_SIZE)
    signature = key.sign(message)
    buffer = os.urandom(BUFFER_SIZE)
    sm4_key = sm4.generate_key()

    ours: dict[str, list[float]] = {"sign": [], "verify": [], "sm3": [], "sm4": []}
    theirs: dict[str, list[float]] = {"sign": [], "verify": [], "sm3": [], "sm4": []}

    def measure_ours() -> None:
        ours["sign"].append(_rate(lambda: key.sign(message), per_round))
        ours["verify"].append(_rate(lambda: public.verify(signature, message), per_round))
        ours["sm3"].append(_rate(lambda: sm3(buffer), per_round) * BUFFER_SIZE / _MB)
        ours["sm4"].append(
            _rate(lambda: sm4.encrypt(sm4_key, buffer), per_round) * BUFFER_SIZE / _MB
        )

    def measure_theirs() -> None:
        if reference is None:
            return
        sign, verify = reference.sm2()
        theirs["sign"].append(sign)
        theirs["verify"].append(verify)
        theirs["sm3"].append(reference.sm3_mb())
        theirs["sm4"].append(reference.sm4_mb())

    for index in range(rounds):
        first, second = (
            (measure_ours, measure_theirs)
            if index % 2 == 0
            else (
                measure_theirs,
                measure_ours,
            )
        )
        first()
        second()

    def best(values: list[float]) -> float | None:
        return max(values) if values else None

    result: dict[str, Any] = {
        "seconds": seconds,
        "rounds": rounds,
        "threads": 1,
        "sm2_message_bytes": MESSAGE_SIZE,
        "buffer_bytes": BUFFER_SIZE,
        "sm2_sign_per_s": best(ours["sign"]),
        "sm2_verify_per_s": best(ours["verify"]),
        "sm3_mb_per_s": best(ours["sm3"]),
        "sm4_gcm_mb_per_s": best(ours["sm4"]),
        "openssl_version": reference.version if reference else None,
        "openssl_sm2_sign_per_s": best(theirs["sign"]),
        "openssl_sm2_verify_per_s": best(theirs["verify"]),
        "openssl_sm3_mb_per_s": best(theirs["sm3"]),
        "openssl_sm4_mb_per_s": best(theirs["sm4"]),
        "openssl_sm4_mode": reference.sm4_mode if reference else None,
    }
    result["sm2_sign_ratio"] = _ratio(result["sm2_sign_per_s"], result["openssl_sm2_sign_per_s"])
    result["sm2_verify_ratio"] = _ratio(
        result["sm2_verify_per_s"], result["openssl_sm2_verify_per_s"]
    )
    result["sm3_ratio"] = _ratio(result["sm3_mb_per_s"], result["openssl_sm3_mb_per_s"])
    result["sm4_ratio"] = _ratio(result["sm4_gcm_mb_per_s"], result["openssl_sm4_mb_per_s"])
    return result


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def format_table(result: dict[str, Any]) -> str:
    """One table, ``metric | ledger | openssl | ratio``, plus what the reference was."""
    sm4_mode = result.get("openssl_sm4_mode") or "n/a"
    rows = [
        (
            f"SM2 sign/s ({result['sm2_message_bytes']} B msg)",
            result["sm2_sign_per_s"],
            result["openssl_sm2_sign_per_s"],
            result["sm2_sign_ratio"],
            0,
        ),
        (
            f"SM2 verify/s ({result['sm2_message_bytes']} B msg)",
            result["sm2_verify_per_s"],
            result["openssl_sm2_verify_per_s"],
            result["sm2_verify_ratio"],
            0,
        ),
        (
            "SM3 MB/s (1 MiB buffers)",
            result["sm3_mb_per_s"],
            result["openssl_sm3_mb_per_s"],
            result["sm3_ratio"],
            1,
        ),
        (
            f"SM4-GCM MB/s (openssl: {sm4_mode.split(' ')[0]})",
            result["sm4_gcm_mb_per_s"],
            result["openssl_sm4_mb_per_s"],
            result["sm4_ratio"],
            1,
        ),
    ]
    cells = [
        (name, _cell(ours, digits), _cell(theirs, digits), _cell(ratio, 2))
        for name, ours, theirs, ratio, digits in rows
    ]
    header = ("metric", "ledger", "openssl", "ratio")
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(4)]

    def line(row: tuple[str, str, str, str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    rule = "-+-".join("-" * width for width in widths)
    lines = [line(header), rule, *(line(row) for row in cells)]
    lines.append("")
    lines.append(
        f"single thread; best of {result.get('rounds', 1)} interleaved round(s), "
        f"{result['seconds']:g} s per metric per side"
    )
    lines.append(f"reference: {result.get('openssl_version') or 'openssl not found'}")
    lines.append(f"SM4 reference mode: {sm4_mode}")
    return "\n".join(lines)
