"""`make load`: the webhook's maximum rate, its latency at 80 % of it and a bounded soak, beside a floor.

    .venv/bin/python tests/load/run_load.py                      # what `make load` runs (~7 minutes)
    .venv/bin/python tests/load/run_load.py --soak-seconds 60    # a shorter soak
    .venv/bin/python tests/load/run_load.py --soak-seconds 0     # no soak
    .venv/bin/python tests/load/run_load.py --check              # exit 1 when a target is missed
    .venv/bin/python tests/load/run_load.py --json out.json      # every number, machine-readable

Experiments (LOAD-ONLY, see tests/load/experiment_app.py; product code is never changed by this tool):

    .venv/bin/python tests/load/run_load.py --soak-seconds 0 --variant "quiet log=--quiet-log"
    .venv/bin/python tests/load/run_load.py --soak-seconds 0 --fixed-rate 100 --variant ...   # same load for all
    .venv/bin/python tests/load/run_load.py --soak-seconds 0 --py-spy /tmp/scratch/bin/py-spy  # CPU breakdown

What runs, all on 127.0.0.1 free ports, each in its own process (none shares another's GIL):

- DynamoDB: prescreen's LocalDynamoDB (moto) in a process of its own (tests/load/dynamodb_server.py), the
  table created from template.yaml by prescreen.local.dynamodb.create_decisions_table. In production
  DynamoDB is another machine; a separate process is the closest this box gets (moto still competes for
  the same 2 cores, which is why its CPU is reported and the "store excluded" row exists). Its
  TransactWriteItems snapshots the touched items instead of deep-copying the whole table (as in `prescreen
  serve`; `--stock-moto` to see stock moto's cost grow with every decision stored), and that process freezes
  its heap once a second so that CPython's full collections do not walk every stored item (pauses of up to
  190 ms, which DynamoDB does not have; `--db-no-freeze` to see them). See tests/load/dynamodb_server.py.
- webhook: `prescreen serve --no-classifier` (the product as shipped for local use: uvicorn, the webhook and
  console app, the callback notifier polling SQS), with PRESCREEN_DYNAMODB_ENDPOINT pointing at that moto.
- store excluded (LOAD-ONLY, not a product configuration): the same ScreenService and FastAPI app with the
  in-memory decision store (tests/load/store_excluded_app.py): webhook minus DynamoDB.
- floor: a trivial FastAPI POST route (tests/load/floor_app.py) behind the same uvicorn options.

Where each process runs (`--cpus`, printed with the results): `split`, the default, gives the server under
test CPU 0 and puts moto and the generator on CPU 1, as in production, where the function has its own vCPU
and DynamoDB and the marketplace are other machines; every target (webhook, store excluded, floor) is placed
the same way. `shared` lets the three processes compete for both cores: the webhook then also waits for the
scheduler whenever moto and the generator are running (its p99 varies from ~20 to ~170 ms between runs).

Each target is measured the same way by tests/load/loadgen.py in its own process, 16 keep-alive connections:
phase A, closed loop for `--max-seconds` (after a 2 s discarded warm-up): the maximum rate; phase B, open
loop at 80 % of that rate for `--rate-seconds`, latency measured from each request's scheduled send time.
Then the store calls alone (through prescreen's DynamoDB store, one at a time: the webhook's one
TransactWriteItems per new request, and the GetItem it adds only for a retry) and the soak: `--soak-seconds`
at the webhook's phase-B rate, sampling the webhook server's RSS (VmRSS from /proc) every `--rss-interval`
seconds.

Targets (PASS/MISS printed; exit 1 on a MISS only with --check):
- p99 <= 50 ms for the webhook (rules only) in phase B;
- zero errors (non-2xx, timeouts, connection errors) in every webhook phase, soak included;
- memory flat over the soak: RSS growth from the soak's first to its last sample <= 5 MB and a second-half
  slope <= 1 MB/min. Why these numbers: the soak sends ~35k decisions; a leak of only 150 bytes per request
  (one small object kept per decision) grows RSS by ~5 MB, while a steady server's RSS moves by 1-2 MB as
  the allocator's arenas settle. The slope over the second half catches a slow leak the total hides.

Other processes on the 2 cores skew every number: the load average is printed, the `others` column gives
the cores used outside this test during each phase B (from /proc/stat), the soak prints it per minute, and
a verdict taken while others used more than a quarter of a core is flagged as such.
Loopback only; every phase is bounded by time and request count; all processes are stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tests/load as the package `load`, for a script run outside pytest

from load.breakdown import format_breakdown  # noqa: E402
from load.loadgen import RequestFactory, dev_secret, load_bodies, percentile  # noqa: E402
from prescreen.local.dynamodb import create_decisions_table, dynamodb_client, free_port  # noqa: E402

TABLE = "prescreen-decisions"  # Settings' default table name, which `prescreen serve` uses
CONNECTIONS = 16
LOAD_FRACTION = 0.8
P99_TARGET_MS = 50.0
RSS_GROWTH_LIMIT_MB = 5.0
RSS_SLOPE_LIMIT_MB_PER_MIN = 1.0
SHARED_MACHINE_CORES = 0.25  # others' CPU above which a latency verdict is flagged as taken on a shared box
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def clean_environment() -> dict[str, str]:
    """The environment every server starts from: the caller's PRESCREEN_/POWERTOOLS_ settings removed so
    a developer's shell cannot change what is measured, and moto's placeholder credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESCREEN_", "POWERTOOLS_", "AWS_"))}
    env.update({
        "PRESCREEN_STAGE": "local",
        "PRESCREEN_CLASSIFIER": "none",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "eu-west-1",
    })
    return env


def _stat(pid: int) -> list[str]:
    # The fields after the command name, which may itself hold spaces and parentheses.
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (uvicorn's worker processes, when there are several)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process tree, all threads included (/proc/<pid>/stat fields 14, 15)."""
    total = 0.0
    for member in descendants(pid):
        try:
            fields = _stat(member)
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy so far, every process included (/proc/stat, first line)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


# Which CPUs each kind of process may run on (`--cpus`): None = anywhere.
CPU_PLACEMENT: dict[str, str | None] = {"server": None, "database": None, "generator": None}
SPLIT_PLACEMENT = {"server": "0", "database": "1", "generator": "1"}


def placed(kind: str, command: list[str]) -> list[str]:
    cpus = CPU_PLACEMENT[kind]
    return ["taskset", "-c", cpus, *command] if cpus else command


@contextmanager
def started(name: str, command: list[str], port: int, env: dict[str, str], logs: Path) -> Iterator[Server]:
    log_path = logs / f"{name}.log"
    log: IO[bytes] = log_path.open("wb")
    # Output goes to a file, as Lambda's goes to CloudWatch: a pipe nobody reads would block the server.
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                               start_new_session=True)
    server = Server(name, process, port, log_path)
    try:
        wait_for_port(server, timeout=60)
        yield server
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started, and its worker processes: each server leads its own session, so its process
    group (id = its pid) holds exactly what it started."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def wait_for_port(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}; see {server.log}:\n"
                               + tail(server.log))
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not listen on port {server.port} within {timeout:.0f} s")


def wait_until_answering(server: Server, factory: RequestFactory, timeout: float = 90) -> None:
    """One signed request answered 200: the policy is loaded and the table reachable."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while time.monotonic() < deadline:
            body, headers = factory.next()
            try:
                if client.post(factory.path, content=body, headers=headers).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer 200 within {timeout:.0f} s; see {server.log}")


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Sample:
    """One look at the machine during a phase: seconds since it started, the server's RSS (MB), and the CPU
    seconds used so far by the server, the database, the generator and the whole machine."""

    at: float
    rss: float
    server: float
    store: float
    generator: float
    machine: float


def take_sample(origin: float, server: Server, store: Server | None, generator: int | None) -> Sample:
    return Sample(time.monotonic() - origin, rss_mb(server.pid), cpu_seconds(server.pid),
                  cpu_seconds(store.pid) if store else 0.0,
                  cpu_seconds(generator) if generator is not None else 0.0, machine_busy_seconds())


@dataclass
class Phase:
    summary: dict[str, Any]
    first: Sample
    last: Sample
    samples: list[Sample] = field(default_factory=list)

    @property
    def completed(self) -> int:
        count: int = self.summary["completed"]
        return count

    @property
    def server_cpu(self) -> float:
        return self.last.server - self.first.server

    @property
    def store_cpu(self) -> float:
        return self.last.store - self.first.store

    @property
    def others_cores(self) -> float:
        """Cores used by processes outside this test (other engineers' tests...) during the phase."""
        wall = self.last.at - self.first.at
        ours = self.server_cpu + self.store_cpu + self.summary["generator_cpu_seconds"]
        return max(0.0, (self.last.machine - self.first.machine - ours) / wall) if wall > 0 else 0.0

    def minutes(self) -> list[dict[str, float]]:
        """Per minute of a sampled phase: CPU per request of server and database, and others' cores."""
        rows: list[dict[str, float]] = []
        windows = self.summary.get("windows", [])
        for index, window in enumerate(windows):
            inside = [s for s in self.samples if index * 60 <= s.at <= (index + 1) * 60]
            if len(inside) < 2 or not window["completed"]:
                continue
            begin, end = inside[0], inside[-1]
            wall = end.at - begin.at
            # Requests answered in the sampled span, prorated from the window's count (the last window of a
            # phase may be shorter than a minute).
            length = min(60.0, self.summary["seconds"] - index * 60)
            answered = window["completed"] * min(1.0, wall / length) if length > 0 else window["completed"]
            ours = (end.server - begin.server) + (end.store - begin.store) + (end.generator - begin.generator)
            rows.append({
                "server_ms": (end.server - begin.server) / answered * 1000,
                "store_ms": (end.store - begin.store) / answered * 1000,
                "others_cores": max(0.0, (end.machine - begin.machine - ours) / wall) if wall else 0.0,
            })
        return rows


def run_phase(server: Server, mode: str, seconds: float, *, rate: float | None = None, warmup: float = 0.0,
              store: Server | None = None, rss_interval: float | None = None,
              window_seconds: float | None = None, py_spy: tuple[str, Path] | None = None) -> Phase:
    """One loadgen process against `server`; the servers' CPU (and RSS when asked) sampled meanwhile;
    `py_spy` = (executable, output): the server's GIL-holding stacks recorded over the phase."""
    command = [sys.executable, str(HERE / "loadgen.py"), "--url", server.url, "--mode", mode,
               "--seconds", str(seconds), "--connections", str(CONNECTIONS), "--json",
               "--warmup-seconds", str(warmup)]
    if rate is not None:
        command += ["--rate", f"{rate:.3f}"]
        # The hard count stop sits just above what the rate schedules, should the clock misbehave.
        command += ["--max-requests", str(int(rate * seconds * 1.05) + 10)]
    if window_seconds:
        command += ["--window-seconds", str(window_seconds)]
    samples: list[Sample] = []
    generator = subprocess.Popen(placed("generator", command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 cwd=REPO)
    assert generator.stderr is not None
    # The warm-up is not measured: the CPU baselines are taken when loadgen says it starts measuring
    # (or when it ends, should it fail first: then readline returns at end of file).
    first_line = generator.stderr.readline()
    early_error = b"" if first_line.strip() == b"measuring" else first_line
    origin = time.monotonic()
    first = take_sample(origin, server, store, None)
    if rss_interval is not None:
        samples.append(take_sample(origin, server, store, generator.pid))
    profiler = None
    if py_spy is not None:
        profiler = subprocess.Popen(
            [py_spy[0], "record", "--pid", str(server.pid), "--gil", "--nonblocking", "--subprocesses",
             "--rate", "250", "--duration", str(max(1, int(seconds) - 1)), "--format", "raw",
             "--output", str(py_spy[1])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watchdog = origin + seconds + 60
    while True:
        try:
            generator.wait(timeout=rss_interval or 1.0)
            break
        except subprocess.TimeoutExpired:
            if rss_interval is not None:
                samples.append(take_sample(origin, server, store, generator.pid))
        if time.monotonic() > watchdog:
            generator.kill()
            raise RuntimeError("the load generator overran its own bounds and was killed")
    last = take_sample(origin, server, store, None)
    out, err = generator.communicate()
    err = early_error + err
    if profiler is not None:
        profiler.wait(timeout=30)
    if generator.returncode != 0:
        raise RuntimeError(f"loadgen failed ({generator.returncode}): {err.decode(errors='replace')}")
    if rss_interval is not None and samples:
        # The generator has exited: carry its last reading, so per-minute deltas stay right.
        samples.append(replace(last, generator=samples[-1].generator))
    return Phase(json.loads(out), first, last, samples)


@dataclass
class Target:
    label: str
    server: Server
    store: Server | None = None
    max_phase: Phase | None = None
    rate_phase: Phase | None = None

    @property
    def max_rate(self) -> float:
        assert self.max_phase is not None
        rate: float = self.max_phase.summary["ok_rate"]
        return rate


def profile(target: Target, py_spy: str, seconds: float, folder: Path) -> str:
    """An extra phase at the phase-B rate with py-spy attached (kept apart: sampling slows the server)."""
    output = folder / f"{target.label.replace(' ', '_').replace('/', '_')}.folded"
    rate = LOAD_FRACTION * target.max_rate
    phase = run_phase(target.server, "rate", seconds, rate=rate, store=target.store, py_spy=(py_spy, output))
    per_request = phase.server_cpu / max(1, phase.completed) * 1000
    if not output.exists():
        return f"{target.label}: py-spy wrote no profile"
    return (f"{target.label}: server CPU {per_request:.2f} ms/request at {rate:.0f} req/s while profiled "
            f"({output})\n{format_breakdown(output, per_request)}")


def measure(target: Target, max_seconds: float, rate_seconds: float, fixed_rate: float | None) -> None:
    print(f"  {target.label}: phase A (max, {max_seconds:.0f} s) ...", end="", flush=True)
    target.max_phase = run_phase(target.server, "max", max_seconds, warmup=2.0, store=target.store)
    rate = fixed_rate or LOAD_FRACTION * target.max_rate
    print(f" {target.max_rate:.0f} req/s; phase B ({rate:.0f} req/s, {rate_seconds:.0f} s) ...", end="", flush=True)
    target.rate_phase = run_phase(target.server, "rate", rate_seconds, rate=rate, store=target.store)
    print(f" p99 {target.rate_phase.summary['latency_ms']['p99']:.1f} ms  (load average {load_average()})")


def store_calls_alone(endpoint: str, count: int) -> dict[str, float]:
    """The webhook's two DynamoDB calls per new request, through prescreen's store, one at a time: what the
    database costs a request when nothing else is running (moto over loopback, not DynamoDB's own numbers)."""
    from prescreen.records import new_decision_id
    from prescreen.settings import Settings
    from prescreen.store.dynamodb import DynamoDBDecisionStore
    from prescreen.store.memory import InMemoryDecisionStore
    from prescreen.webhook import ScreenService
    from prescreen.wiring import build_marketplaces, build_screener

    settings = Settings(stage="local", table_name=TABLE, dynamodb_endpoint=endpoint)
    saved: list[Any] = []

    class Capture(InMemoryDecisionStore):
        def save_decision(self, record: Any) -> None:
            saved.append(record)
            super().save_decision(record)

    # A real decision record, as the webhook builds it, to store again under fresh ids.
    service = ScreenService(settings, Capture(), build_marketplaces(settings), build_screener(settings))
    factory = RequestFactory("demo", dev_secret("demo"), load_bodies())
    logging.disable(logging.INFO)  # the decision log lines of these set-up requests are not news
    try:
        for _ in range(len(load_bodies())):
            body, headers = factory.next()
            service.handle("demo", headers, body)
    finally:
        logging.disable(logging.NOTSET)
    store = DynamoDBDecisionStore.from_settings(settings)
    reads: list[float] = []
    writes: list[float] = []
    for index in range(count):
        record = saved[index % len(saved)].model_copy(
            update={"webhook_id": f"store_{index}_{time.time_ns()}", "decision_id": new_decision_id(time.time())})
        began = time.perf_counter()
        store.find_request(record.marketplace, record.webhook_id)
        read = time.perf_counter()
        store.save_decision(record)
        reads.append((read - began) * 1000)
        writes.append((time.perf_counter() - read) * 1000)
    both = sorted(r + w for r, w in zip(reads, writes, strict=True))
    return {"get_p50": statistics.median(reads), "transact_p50": statistics.median(writes),
            "both_p50": percentile(both, 0.5), "both_p99": percentile(both, 0.99)}


def error_kinds(summary: dict[str, Any]) -> str:
    """What the errors were: answers by status, timeouts, broken connections, and requests never sent
    because they waited longer than the request timeout for a free connection (the server fell behind)."""
    kinds = [f"HTTP {code}: {n}" for code, n in summary["statuses"].items() if not code.startswith("2")]
    labels = {"timeouts": "timeouts", "connection_errors": "connection errors",
              "unsent": "never sent (waited > timeout for a connection)"}
    kinds += [f"{label}: {summary[name]}" for name, label in labels.items() if summary[name]]
    return ", ".join(kinds) or "none"


def slope_mb_per_min(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time."""
    if len(samples) < 2:
        return 0.0
    times = [t for t, _ in samples]
    values = [v for _, v in samples]
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread * 60


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(targets: list[Target], floor: Target) -> None:
    assert floor.max_phase is not None
    assert floor.rate_phase is not None
    floor_p50 = floor.rate_phase.summary["latency_ms"]["p50"]
    floor_p99 = floor.rate_phase.summary["latency_ms"]["p99"]
    header = (f"{'target':<24}{'max req/s':>10}{'B req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
              f"{'errors':>8}{'floor/max':>10}{'p50/floor':>10}{'p99/floor':>10}{'srv CPU':>9}{'db CPU':>8}"
              f"{'others':>8}")
    print(header)
    print("-" * len(header))
    for target in targets:
        assert target.max_phase is not None
        assert target.rate_phase is not None
        latency = target.rate_phase.summary["latency_ms"]
        errors = target.max_phase.summary["errors"] + target.rate_phase.summary["errors"]
        completed = max(1, target.max_phase.completed)
        # CPU per request in phase A (ms): where the cores went, server vs database.
        server_ms = target.max_phase.server_cpu / completed * 1000
        store_ms = target.max_phase.store_cpu / completed * 1000 if target.store is not None else None
        print(f"{target.label:<24}{target.max_rate:>10,.0f}{target.rate_phase.summary['achieved_rate']:>10,.0f}"
              f"{latency['p50']:>9.2f}{latency['p95']:>9.2f}{latency['p99']:>9.2f}{errors:>8}"
              f"{floor.max_rate / target.max_rate:>9.1f}x{latency['p50'] / floor_p50:>9.1f}x"
              f"{latency['p99'] / floor_p99:>9.1f}x{server_ms:>7.2f}ms{fmt(store_ms, 2):>6}ms"
              f"{target.rate_phase.others_cores:>8.2f}")
    print("B req/s: the rate achieved in phase B. errors: phases A + B (non-2xx, timeouts, connection errors). "
          "srv/db CPU: CPU time per request in phase A of the server process(es) and of moto. others: cores "
          "used by processes outside this test during phase B (2 = the whole machine).")
    lags = [t.rate_phase.summary["generator_lag_ms"]["p99"] for t in targets if t.rate_phase is not None]
    print(f"generator: p99 wake-up lag {max(lags):.2f} ms at worst (a large value would mean the generator, "
          "not the server, limited the run)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-seconds", type=float, default=10.0, help="phase A duration per target")
    parser.add_argument("--rate-seconds", type=float, default=20.0, help="phase B duration per target")
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="0 skips the soak")
    parser.add_argument("--rss-interval", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--store-calls", type=int, default=300, help="sequential store call pairs timed")
    parser.add_argument("--db-no-freeze", action="store_true", help="moto's full collections walk its whole "
                        "store (see dynamodb_server.py)")
    parser.add_argument("--db-gc-log", type=Path, help="probe: moto's full collections (ms, objects) to this file")
    parser.add_argument("--stock-moto", action="store_true", help="moto as released (see dynamodb_server.py)")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=ARGS",
                        help="also measure tests/load/experiment_app.py with these ARGS (LOAD-ONLY experiments)")
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy executable (a scratch install): profile each "
                        "server in an extra phase at its phase-B rate and print where its CPU goes")
    parser.add_argument("--profile-seconds", type=float, default=15.0)
    parser.add_argument("--profile-dir", type=Path, help="keep the py-spy profiles here (default: discarded)")
    parser.add_argument("--fixed-rate", type=float, help="experiments: phase B (every target) and the soak at "
                        "this rate instead of 80 %% of the maximum, to compare latency at the same offered load")
    parser.add_argument("--cpus", choices=["split", "shared"], default="split",
                        help="split (default): the server under test on CPU 0, moto and the generator on CPU 1; "
                        "shared: every process anywhere")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json", type=Path, help="write every measurement to this file")
    args = parser.parse_args(argv)
    if min(args.max_seconds, args.rate_seconds) <= 0 or args.soak_seconds < 0 or args.rss_interval <= 0:
        parser.error("durations must be positive (the soak may be 0)")

    if args.cpus == "split":
        CPU_PLACEMENT.update(SPLIT_PLACEMENT)
    env = clean_environment()
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})  # this process's own boto3 calls
    factory = RequestFactory("demo", dev_secret("demo"), load_bodies())
    print(f"make load: {CONNECTIONS} connections, {os.cpu_count()} cores, load average {load_average()} "
          f"(1, 5, 15 min) at start")
    with tempfile.TemporaryDirectory(prefix="prescreen-load-") as scratch, ExitStack() as stack:
        logs = Path(scratch)
        python = sys.executable
        db_port = free_port()
        database = stack.enter_context(started(
            "dynamodb", placed("database", [python, str(HERE / "dynamodb_server.py"), "--port", str(db_port)]
                               + (["--stock"] if args.stock_moto else [])
                               + (["--no-freeze"] if args.db_no_freeze else [])
                               + (["--gc-log", str(args.db_gc_log)] if args.db_gc_log else [])),
            db_port, env, logs))
        endpoint = database.url
        create_decisions_table(dynamodb_client(endpoint), REPO / "template.yaml", TABLE)
        webhook_env = env | {"PRESCREEN_DYNAMODB_ENDPOINT": endpoint}
        port = free_port()
        webhook = stack.enter_context(started(
            "webhook", placed("server", [python, "-m", "prescreen.cli", "serve", "--no-classifier", "--host",
                                         "127.0.0.1", "--port", str(port)]), port, webhook_env, logs))
        port = free_port()
        excluded = stack.enter_context(started(
            "store-excluded", placed("server", [python, str(HERE / "serve_app.py"), "store-excluded", "--port",
                                                str(port)]), port, env, logs))
        port = free_port()
        floor_server = stack.enter_context(started(
            "floor", placed("server", [python, str(HERE / "serve_app.py"), "floor", "--port", str(port)]),
            port, env, logs))
        variants: list[Target] = []
        for variant in args.variant:
            label, _, options = variant.partition("=")
            port = free_port()
            server = stack.enter_context(started(
                f"variant-{len(variants)}", placed("server", [python, str(HERE / "experiment_app.py"), "--port",
                                                              str(port), *options.split()]), port, webhook_env, logs))
            variants.append(Target(f"exp: {label}"[:23], server, database))
        for server in (webhook, excluded, floor_server, *(v.server for v in variants)):
            wait_until_answering(server, factory)

        moto = ("stock moto" if args.stock_moto else "moto, per-item transaction snapshots") + \
            (", every full collection walks its store" if args.db_no_freeze else ", its heap frozen each second")
        floor = Target("floor (trivial FastAPI)", floor_server)
        targets = [
            Target("webhook (moto)", webhook, database),
            Target("webhook, store excl.*", excluded),
            *variants,
            floor,
        ]
        print("measuring (phase A: closed loop, max rate; phase B: open loop at 80 % of it):")
        for target in targets:
            measure(target, args.max_seconds, args.rate_seconds, args.fixed_rate)
        profiles: list[str] = []
        if args.py_spy:
            folder = args.profile_dir or logs
            folder.mkdir(parents=True, exist_ok=True)
            print(f"  profiling each server with py-spy for {args.profile_seconds:.0f} s ...", flush=True)
            profiles = [profile(t, args.py_spy, args.profile_seconds, folder) for t in targets]
        store = store_calls_alone(endpoint, args.store_calls)

        soak: Phase | None = None
        soak_rate = args.fixed_rate or LOAD_FRACTION * targets[0].max_rate
        if args.soak_seconds > 0:
            print(f"  soak: webhook at {soak_rate:.0f} req/s for {args.soak_seconds:.0f} s, RSS every "
                  f"{args.rss_interval:.0f} s ...", flush=True)
            db_rss_before = rss_mb(database.pid)
            soak = run_phase(webhook, "rate", args.soak_seconds, rate=soak_rate, store=database,
                             rss_interval=args.rss_interval, window_seconds=60)
            soak.summary["database_rss_mb"] = [round(db_rss_before, 1), round(rss_mb(database.pid), 1)]
        end_load = load_average()

    print()
    phase_b = f"{args.fixed_rate:.0f} req/s (fixed)" if args.fixed_rate else f"{LOAD_FRACTION:.0%} of A"
    print(f"== make load: {CONNECTIONS} connections, phase A {args.max_seconds:.0f} s, phase B at {phase_b} "
          f"for {args.rate_seconds:.0f} s, load average at end {end_load} ==")
    print(f"DynamoDB: {moto}, in its own process (tests/load/dynamodb_server.py)")
    layout = ("split: the server under test on CPU 0, moto and the generator on CPU 1" if args.cpus == "split"
              else "shared: every process on either core")
    print(f"CPUs: {layout}")
    print_table(targets, floor)
    print("* LOAD-ONLY: the same webhook app and ScreenService with the in-memory store; not a product "
          "configuration (a decision is never answered before DynamoDB stored it).")
    print(f"store calls alone ({args.store_calls} sequential GetItem + TransactWriteItems through prescreen's "
          f"store, {moto}; a new request makes the write only, a retry adds the read): "
          f"GetItem p50 {store['get_p50']:.2f} ms, TransactWriteItems p50 "
          f"{store['transact_p50']:.2f} ms, both p50 {store['both_p50']:.2f} / p99 {store['both_p99']:.2f} ms")

    if profiles:
        print("where the server's CPU goes (py-spy --gil, extra phase at the phase-B rate):")
        print("\n".join(profiles))

    webhook_target = targets[0]
    assert webhook_target.max_phase is not None
    assert webhook_target.rate_phase is not None
    p99 = webhook_target.rate_phase.summary["latency_ms"]["p99"]
    errors = webhook_target.max_phase.summary["errors"] + webhook_target.rate_phase.summary["errors"]
    checks: list[tuple[str, bool, str]] = [
        (f"webhook p99 <= {P99_TARGET_MS:.0f} ms at "
         + ("a FIXED rate, not the target's 80 % load" if args.fixed_rate else "80 % load (rules only)"),
         p99 <= P99_TARGET_MS,
         f"{p99:.1f} ms at {webhook_target.rate_phase.summary['achieved_rate']:.0f} req/s"),
    ]
    if soak is not None:
        errors += soak.summary["errors"]
        samples = [(sample.at, sample.rss) for sample in soak.samples]
        first, last = samples[0][1], samples[-1][1]
        peak = max(value for _, value in samples)
        half = samples[len(samples) // 2:]
        slope = slope_mb_per_min(half)
        growth = last - first
        latency = soak.summary["latency_ms"]
        print(f"soak: {soak.summary['completed']:,} requests at {soak.summary['achieved_rate']:.1f} req/s over "
              f"{soak.summary['seconds']:.0f} s, p50 {latency['p50']:.2f} / p95 {latency['p95']:.2f} / p99 "
              f"{latency['p99']:.2f} ms, errors {soak.summary['errors']} ({error_kinds(soak.summary)})")
        print("  minute   p50 ms   p99 ms  errors  server CPU/req  moto CPU/req  other processes (cores)")
        for index, (window, cpu) in enumerate(zip(soak.summary["windows"], soak.minutes(), strict=False)):
            print(f"  {index + 1:>6}{window['p50']:>9.1f}{window['p99']:>9.1f}{window['errors']:>8}"
                  f"{cpu['server_ms']:>13.2f}ms{cpu['store_ms']:>12.2f}ms{cpu['others_cores']:>12.2f}")
        print(f"  webhook server RSS: start {first:.1f} MB, end {last:.1f} MB, max {peak:.1f} MB, growth "
              f"{growth:+.1f} MB, second-half slope {slope:+.2f} MB/min ({len(samples)} samples); "
              f"moto (grows by design, it is the database): {soak.summary['database_rss_mb'][0]:.0f} -> "
              f"{soak.summary['database_rss_mb'][1]:.0f} MB")
        # A slope over less than a minute extrapolates noise (RSS moves in allocator-arena steps): judged only
        # on longer soaks.
        judged = half[-1][0] - half[0][0] >= 60
        flat = growth <= RSS_GROWTH_LIMIT_MB and (slope <= RSS_SLOPE_LIMIT_MB_PER_MIN or not judged)
        checks.append((f"memory flat over the soak (growth <= {RSS_GROWTH_LIMIT_MB:.0f} MB, slope <= "
                       f"{RSS_SLOPE_LIMIT_MB_PER_MIN:.0f} MB/min)", flat,
                       f"{growth:+.1f} MB, {slope:+.2f} MB/min"
                       + ("" if judged else " (slope not judged: second half under a minute)")))
    phases = [webhook_target.max_phase.summary, webhook_target.rate_phase.summary]
    phases += [soak.summary] if soak else []
    checks.insert(1, ("zero errors (webhook, every phase" + (", soak included)" if soak else ")"), errors == 0,
                      f"{errors} errors" + "".join(f"; {error_kinds(p)}" for p in phases if p["errors"])))
    for name, passed, measured in checks:
        print(f"{'PASS' if passed else 'MISS'}  {name}: {measured}")
    busy = max([webhook_target.rate_phase.others_cores]
               + [row["others_cores"] for row in (soak.minutes() if soak else [])])
    if busy > SHARED_MACHINE_CORES:
        print(f"NOTE  the machine was shared: other processes used up to {busy:.2f} of its 2 cores while the "
              "webhook was measured; latency verdicts are pessimistic, rerun on a quiet machine to confirm")

    if args.json:
        report = {
            "load_average_end": end_load,
            "targets": {t.label: {"max": t.max_phase.summary if t.max_phase else None,
                                  "rate": t.rate_phase.summary if t.rate_phase else None,
                                  "server_cpu_a": t.max_phase.server_cpu if t.max_phase else None,
                                  "store_cpu_a": t.max_phase.store_cpu if t.max_phase else None}
                        for t in targets},
            "store_calls_alone": store,
            "soak": None if soak is None else {**soak.summary, "samples": [vars(s) for s in soak.samples],
                                               "minutes": soak.minutes()},
            "checks": [{"target": name, "pass": passed, "measured": measured} for name, passed, measured in checks],
        }
        args.json.write_text(json.dumps(report, indent=2))
    missed = [name for name, passed, _ in checks if not passed]
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
