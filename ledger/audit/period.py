"""The period an audit covers, and the one home of its limits (the longest period, the most
receipts one report holds, how long a receipt may wait for its anchoring before it is flagged).

A period is ``[start, end)`` in UTC, whole seconds. Times come in as RFC 3339 (``2026-11-01
T00:00:00Z`` or with an offset); anything else, an end before the start or a period longer than
:data:`MAX_PERIOD` is :class:`PeriodInvalid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ledger import canonical
from ledger.audit.errors import PeriodInvalid

#: The longest period one report covers.
MAX_PERIOD = timedelta(days=92)
#: The most receipts (or reliances) one report holds; a busier period is asked for in parts.
MAX_ROWS = 50_000
#: How long after its use a receipt may still be waiting for its Merkle batch's anchoring
#: before the report flags it ``not-anchored`` (batches anchor within seconds normally).
ANCHORING_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            moment = getattr(self, name)
            if not isinstance(moment, datetime) or moment.utcoffset() is None:
                raise PeriodInvalid(f"a period's {name} is an aware datetime, got {moment!r}")
            object.__setattr__(self, name, canonical.whole_seconds(moment))
        if self.end < self.start:
            raise PeriodInvalid(
                f"the period ends ({self.shown_end}) before it starts ({self.shown_start})"
            )
        if self.end - self.start > MAX_PERIOD:
            raise PeriodInvalid(
                f"a period is at most {MAX_PERIOD.days} days; {self.shown_start} .. "
                f"{self.shown_end} is longer: ask for it in parts"
            )

    @classmethod
    def parse(cls, start: str, end: str) -> Period:
        return cls(parse_time(start, "from"), parse_time(end, "to"))

    @property
    def shown_start(self) -> str:
        return canonical.timestamp(self.start)

    @property
    def shown_end(self) -> str:
        return canonical.timestamp(self.end)

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def parse_time(text: str, name: str) -> datetime:
    """An RFC 3339 time with its offset (``Z`` or ``+08:00``), in UTC; else PeriodInvalid."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.utcoffset() is None or "T" not in text.upper():
        raise PeriodInvalid(
            f"{name} is an RFC 3339 time with its offset, like 2026-11-01T00:00:00Z; got {text!r}"
        )
    return moment.astimezone(UTC)


def check_rows(count: int, period: Period) -> None:
    """A period holding more than :data:`MAX_ROWS` receipts (or reliances) is refused."""
    if count > MAX_ROWS:
        raise PeriodInvalid(
            f"{period.shown_start} .. {period.shown_end} holds {count} records; a report holds"
            f" at most {MAX_ROWS}: ask for a shorter period"
        )
