"""Kill rate per module from `mutmut results --all true` (mutants/results.txt): `make mutation`.

A mutant counts as killed when a test failed on it, or when it made a test time out (an endless
loop); survivors are listed for tests/MUTATION.md (killed by a new test, or explained there as
equivalent)."""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(?P<name>\S+?)__mutmut_\d+: (?P<status>.+?)\s*$")
DETECTED = {"killed", "timeout"}


def main(path: Path = Path("mutants/results.txt")) -> int:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        if not match:
            continue
        name, status = match["name"], match["status"]
        module = re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]
        counts[module][status] += 1
        if status == "survived":
            survivors[module].append(line.split(":")[0].strip())
    for module, by_status in sorted(counts.items()):
        checked = sum(n for status, n in by_status.items() if status != "not checked")
        detected = sum(by_status[status] for status in DETECTED)
        rate = 100 * detected / checked if checked else 0.0
        print(f"{module}: {detected}/{checked} killed ({rate:.1f}%) {dict(by_status)}")
        for name in survivors[module]:
            print(f"    survived: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*map(Path, sys.argv[1:])))
