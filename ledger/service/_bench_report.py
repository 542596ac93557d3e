"""``ledger bench evidence`` and ``ledger bench reuse``: percentiles and the printed tables."""

from __future__ import annotations

import statistics
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def format_table(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = [
        ("agreements acknowledged / s", f"{r['acks_per_s']:,.0f}", "target >= 1,000"),
        ("service CPU per agreement (ms)", f"{r['cpu_ms_per_agreement']:.2f}", ""),
        ("ack latency p50 / p99 (ms)", f"{r['ack_p50_ms']:,.1f} / {r['ack_p99_ms']:,.1f}", ""),
        (
            "ack -> on-chain inclusion p50 / p99 (ms)",
            f"{r['inclusion_p50_ms']:,.0f} / {r['inclusion_p99_ms']:,.0f}",
            "target p99 <= 2,000",
        ),
    ]
    for size, gas in r["gas_per_agreement"].items():
        target = "target <= 250" if int(size) >= 1000 else ""
        rows.append((f"gas per agreement, batch of {int(size):,}", f"{gas:,.1f}", target))
    for size, nbytes in r["proof_bytes"].items():
        rows.append(
            (
                f"proof bytes, batch of {int(size):,} (path {r['proof_path_hashes'][size]})",
                f"{nbytes:,} ({r['proof_bytes_with_car'][size]:,} with CAR)",
                "grows with log2(batch)",
            )
        )
    sign = r["openssl_sm2_sign_per_s"]
    verify = r["openssl_sm2_verify_per_s"]
    rows.append(
        (
            "reference: openssl speed sm2 sign / verify per s (1 core)",
            "n/a" if sign is None else f"{sign:,.0f} / {verify:,.0f}",
            "",
        )
    )
    over_http = r.get("http")
    if over_http:
        rows[1:1] = [
            (
                "over HTTP: acknowledged / s (ledger serve --workers"
                f" {over_http['server_workers']},"
                f" {over_http['client_processes'] * over_http['client_threads']} connections)",
                f"{over_http['acks_per_s']:,.0f} ({over_http['of_in_process']:.0%} of in-process)",
                "target >= 70% of in-process",
            ),
            (
                "over HTTP: server CPU per agreement (ms)",
                f"{over_http['cpu_ms_per_agreement']:.2f}",
                "",
            ),
            (
                "over HTTP: request latency p50 / p99 (ms)",
                f"{over_http['ack_p50_ms']:,.1f} / {over_http['ack_p99_ms']:,.1f}",
                "",
            ),
        ]
    lines = [
        *_table(rows),
        "",
        f"{r['acknowledged']:,} agreements acknowledged in {r['seconds']:g} s by"
        f" {r['processes']} service process(es) x {r['workers']} client threads"
        + (f" submitting {r['bulk']} at a time" if r["bulk"] > 1 else "")
        + f" on"
        f" {r['cpus']} CPUs ({r['document_bytes']} B documents, 2 signatures, 2 readers each;"
        f" one broker, a new customer every {r['agreements_per_customer']} agreements);"
        f" all {r['anchored']:,} anchored; batches of up to"
        f" {r['batch_max_size']:,} or {r['batch_max_wait_s']:g} s; database:"
        f" {r.get('database', 'sqlite')}.",
    ]
    return "\n".join(lines)


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    """The lines of a metric | measured | target table."""
    header = ("metric", "measured", "target")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    return [
        " | ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
        *(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows),
    ]


def format_reuse_table(r: dict[str, Any]) -> str:
    """``ledger bench reuse``'s result as the printed table."""
    rows: list[tuple[str, str, str]] = []
    for mode in ("standing", "per-use"):
        closed = r[f"{mode}_closed"]
        rows.append((f"{mode}: releases / s (closed loop)", f"{closed['served_per_s']:,}", ""))
        for phase in ("open", "open_80"):
            opened = r[f"{mode}_{phase}"]
            rows.append(
                (
                    f"{mode}: p50 / p99 at {opened['offered_per_s']:g}/s offered (ms)",
                    f"{opened['p50_ms']} / {opened['p99_ms']}  ({opened['served_per_s']}/s served)",
                    f"target p99 <= {r['target_p99_ms']:g}"
                    if phase == "open"
                    else "80 % of closed",
                )
            )
    ref = r["reference_read_open"]
    rows.append(
        (
            f"reference: signed GET /v1/consents/{{id}} at {ref['offered_per_s']:g}/s (ms)",
            f"{ref['p50_ms']} / {ref['p99_ms']}  ({ref['served_per_s']}/s served)",
            "",
        )
    )
    if r["openssl_sm2_sign_per_s"]:
        rows.append(
            (
                "reference: openssl speed sm2 sign / verify per s",
                f"{r['openssl_sm2_sign_per_s']:,.0f} / {r['openssl_sm2_verify_per_s']:,.0f}",
                "",
            )
        )
    for what, gas in r["gas"].items():
        rows.append((f"gas: {what}", f"{gas:,}", ""))
    if r["gas_per_receipt"] is not None:
        rows.append(
            (
                f"gas per receipt ({r['receipts_anchored']:,} receipts, batched)",
                f"{r['gas_per_receipt']:,.1f}",
                "",
            )
        )
    return "\n".join(
        [
            f"ledger bench reuse: {r['seconds']:g} s per phase, ledger serve --workers"
            f" {r['server_workers']}, {r['client_processes']} client processes x"
            f" {r['client_threads']} connections",
            *_table(rows),
        ]
    )
