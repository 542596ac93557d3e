"""The audit's period and its limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.audit.errors import PeriodInvalid
from ledger.audit.period import MAX_PERIOD, MAX_ROWS, Period, check_rows


def test_a_period_reads_rfc_3339_with_offsets() -> None:
    period = Period.parse("2026-11-01T08:00:00+08:00", "2026-11-02T00:00:00.5Z")
    assert period.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 2, tzinfo=UTC)
    shown = (period.shown_start, period.shown_end)
    assert shown == ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    assert period.holds(period.start) and not period.holds(period.end)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (
            "2026-11-02T00:00:00Z",
            "2026-11-01T00:00:00Z",
            r"^the period ends \(2026-11-01T00:00:00Z\) before it starts \(2026-11-02T00:00:00Z\)$",
        ),
        ("2026-11-01", "2026-11-02T00:00:00Z", "^from is an RFC 3339 time with its offset"),
        ("2026-11-01T00:00:00", "2026-11-02T00:00:00Z", "^from is an RFC 3339 time"),
        ("2026-11-01T00:00:00Z", "soon", "^to is an RFC 3339 time with its offset, like"),
        (
            "2026-01-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
            f"^a period is at most {MAX_PERIOD.days} days; 2026-01-01T00:00:00Z .. ",
        ),
    ],
)
def test_bad_periods_are_refused(start: str, end: str, message: str) -> None:
    with pytest.raises(PeriodInvalid, match=message):
        Period.parse(start, end)


def test_too_many_rows_are_refused() -> None:
    period = Period.parse("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    check_rows(MAX_ROWS, period)
    with pytest.raises(PeriodInvalid, match=f"holds {MAX_ROWS + 1} records; a report holds at"):
        check_rows(MAX_ROWS + 1, period)
