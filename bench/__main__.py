"""``python -m bench``: run every scenario in one go, print the targets and write ``bench/results.json``."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType

from bench.backlog import run_backlog
from bench.ceiling import run_ceiling
from bench.distributed import run_distributed
from bench.embedded import Sizes, run_embedded
from bench.figures import Figures
from bench.isolation import run_isolation
from bench.procs import BenchError, Processes
from bench.receiver import run
from bench.report import RESULTS, render, targets, write

__all__ = ["main", "parse_args"]

FULL = Sizes(
    ceiling_s=5,
    small=2000,
    large=10000,
    slow_rate_s=10,
    fast_rate_s=10,
    fanout_events=100,
    many=10000,
    ingest_posts=5000,
    ingest_probe=300,
    isolation_events=1000,
    pg_events=5000,
    pending=100_000,
)
QUICK = Sizes(
    ceiling_s=1.5,
    small=300,
    large=1000,
    slow_rate_s=2,
    fast_rate_s=2,
    fanout_events=10,
    many=300,
    ingest_posts=1000,
    ingest_probe=60,
    isolation_events=100,
    pg_events=500,
    pending=5000,
)
SCENARIOS = ("a", "b", "c", "d", "e", "f", "g", "h")
EMBEDDED = ("b", "c", "d", "e")  # share one embedded gateway


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark a real Blue Gateway locally.")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, one embedded gateway for (b) to (h), without (g) unless --only g: a smoke run",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent clients of bursts and (a)")
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        default=[],
        help="run only these scenario groups (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for one burst's deliveries")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"where to write the JSON (default {RESULTS})"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="gateway setting for every gateway, e.g. --set WEBHOOK_CONCURRENCY=256 (becomes BLUE_GATEWAY_NAME)",
    )
    args = parser.parse_args(argv)
    try:
        args.overrides = {
            "BLUE_GATEWAY_" + name.strip().upper().removeprefix("BLUE_GATEWAY_"): value
            for name, value in (item.split("=", 1) for item in args.set)
        }
    except ValueError:
        parser.error("--set takes NAME=VALUE")
    if args.concurrency < 1:
        parser.error("--concurrency must be positive")
    args.sizes = QUICK if args.quick else FULL
    # (g) alone starts four processes against PostgreSQL and Redis: more than a smoke run can afford
    args.only = args.only or [s for s in SCENARIOS if not (args.quick and s == "g")]
    return args


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the same cleanup as Ctrl-C


async def _all(args: argparse.Namespace, procs: Processes, figures: Figures) -> None:
    receiver = procs.start_receiver(keyed=("c", "gc"))
    bad = procs.start_receiver({"slow": 1.0, "hang": float("inf")}, name="bad-receiver")
    common = {"concurrency": args.concurrency, "timeout": args.timeout, "overrides": args.overrides, "log": _log}
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        (
            "a",
            lambda: run_ceiling(
                procs, receiver, figures, seconds=args.sizes.ceiling_s, concurrency=args.concurrency, log=_log
            ),
        ),
        (
            "bcde",
            lambda: run_embedded(
                procs,
                receiver,
                figures,
                args.sizes,
                parts=[s for s in EMBEDDED if s in args.only],
                on_start=lambda pid: _log(f"  embedded gateway pid {pid}"),
                **common,
            ),
        ),
        ("f", lambda: run_isolation(procs, receiver, bad, figures, args.sizes, **common)),
        ("g", lambda: run_distributed(procs, receiver, figures, args.sizes, **common)),
        (
            "h",
            lambda: run_backlog(
                procs, bad, figures, args.sizes, timeout=args.timeout, overrides=args.overrides, log=_log
            ),
        ),
    ]
    for name, step in steps:
        if not set(name) & set(args.only):
            continue
        started = time.monotonic()
        try:
            await step()
        except (BenchError, OSError) as exc:  # one scenario failing still leaves the others' figures
            figures.errors[name] = str(exc)
            _log(f"({name}) failed: {exc}")
        _log(f"({name}) took {time.monotonic() - started:.1f}s")


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 when every scenario ran, 1 when one failed, 130 when interrupted."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="blue-gateway-bench-") as tmp_name:
        procs = Processes(Path(tmp_name))
        procs.share_embedded = args.quick
        try:
            run(_all(args, procs, figures))
        except BenchError as exc:
            _log(f"bench failed: {exc}")
            return 1
        except KeyboardInterrupt:
            _log("interrupted; stopping subprocesses")
            return 130
        finally:
            procs.stop_all()
    judged = targets(figures)
    render(figures, judged)
    elapsed = time.monotonic() - started
    write(
        figures,
        judged,
        {"quick": args.quick, "settings": args.overrides, "seconds": round(elapsed, 1)},
        args.results,
    )
    _log(f"done in {elapsed:.1f}s; wrote {args.results}")
    return 1 if figures.errors else 0


if __name__ == "__main__":
    sys.exit(main())
