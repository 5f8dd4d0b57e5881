"""Where a webhook server's CPU goes: py-spy `--gil` samples (raw/folded format) grouped by what the code is
doing for a request, turned into milliseconds per request with the CPU time run_load.py measured.

    .venv/bin/python tests/load/breakdown.py server.folded --cpu-ms-per-request 4.3

run_load.py calls this for each target when given `--py-spy PATH` (py-spy installed in a scratch folder,
e.g. `pip install --target /tmp/scratch py-spy`; it is not a dependency of the project). `--gil` samples only
the thread holding the GIL, so the shares are shares of the process's Python CPU time.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

# The first rule whose markers appear anywhere in a sample's stack names it; order matters (a DynamoDB call
# made inside ScreenService.handle is counted as the call, not as handle).
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("callback notifier polling SQS (local only)", ("LocalNotifierWorker",)),
    ("DynamoDB GetItem: botocore client", ("DynamoDBDecisionStore.find_request",)),
    ("DynamoDB TransactWriteItems: botocore client", ("DynamoDBDecisionStore.save_decision",)),
    ("in-memory store (store excluded)", ("InMemoryDecisionStore",)),
    ("botocore, other", ("botocore/", "urllib3/")),
    ("decision log line + metrics (_observe)", ("ScreenService._observe",)),
    ("screening: normalise, match, rules", ("Screener.screen",)),
    ("listing validation (pydantic)", ("ScreenService._parse",)),
    ("signature check", ("ScreenService._authenticate",)),
    ("handle: hashing, record, response model", ("ScreenService.handle",)),
    ("anyio thread pool hand-off", ("WorkerThread", "run_sync", "to_thread")),
    ("FastAPI response validation + JSON", ("serialize_response", "jsonable_encoder")),
    ("uvicorn HTTP + Starlette/FastAPI routing", ("uvicorn/", "starlette/", "fastapi/", "h11/", "httptools")),
    ("asyncio event loop", ("asyncio/", "selectors.py", "uvloop")),
]


def categorise(stack: str) -> str:
    for label, markers in RULES:
        if any(marker in stack for marker in markers):
            return label
    return "other"


def breakdown(folded: Path) -> tuple[int, Counter[str]]:
    shares: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        shares[categorise(stack)] += int(count)
    return total, shares


def format_breakdown(folded: Path, cpu_ms_per_request: float | None) -> str:
    total, shares = breakdown(folded)
    if total == 0:
        return "  (no samples)"
    lines = []
    for label, count in shares.most_common():
        share = count / total
        cost = f"{share * cpu_ms_per_request:6.2f} ms/request" if cpu_ms_per_request else ""
        lines.append(f"  {share:6.1%}  {cost}  {label}")
    return "\n".join(lines) + f"\n  ({total} samples with the GIL held)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folded", type=Path, help="py-spy record --gil -f raw output")
    parser.add_argument("--cpu-ms-per-request", type=float, help="the process's CPU time per request")
    args = parser.parse_args(argv)
    print(format_breakdown(args.folded, args.cpu_ms_per_request))
    return 0


if __name__ == "__main__":
    sys.exit(main())
