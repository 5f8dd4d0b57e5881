"""LOAD-ONLY launcher: serves the floor app or the store-excluded webhook with the uvicorn options that
`prescreen serve` uses (one worker, uvicorn's automatic HTTP implementation and loop, log level warning,
no lifespan), so every target of `make load` is measured behind the same server.

    .venv/bin/python tests/load/serve_app.py floor --port 8101
    .venv/bin/python tests/load/serve_app.py store-excluded --port 8102

Loopback only. Started and stopped by tests/load/run_load.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/load as the package `load`

# What `prescreen serve` passes to uvicorn.run (prescreen/cli.py); everything else is uvicorn's default.
LOG_LEVEL = "warning"
LIFESPAN: Literal["off"] = "off"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", choices=["floor", "store-excluded"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.app == "floor":
        from load.floor_app import app
    else:
        from load.store_excluded_app import build_app

        app = build_app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=LOG_LEVEL, lifespan=LIFESPAN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
