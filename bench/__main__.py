"""``python -m bench``: run every scenario and print the report (see :mod:`bench`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from bench.baseline import DbResult, run_group_commit, run_merged_commit, run_per_transaction
from bench.isolation import run_isolation
from bench.procs import BenchError, Processes
from bench.report import Report, render
from bench.scenarios import run_gateway_scenarios

__all__ = ["main", "parse_args"]

QUICK = {"events": 400, "concurrency": 16, "isolation_events": 200}
FULL = {"events": 5000, "concurrency": 64, "isolation_events": 2000}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark a real Blue Gateway locally.")
    parser.add_argument("--events", type=int, default=None, help="events per scenario (default 5000)")
    parser.add_argument("--concurrency", type=int, default=None, help="concurrent clients / tasks (default 64)")
    parser.add_argument(
        "--webhooks", type=int, default=1, help="webhooks every event matches (default 1; 0 = ingest only)"
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke run with {QUICK} (under 30 s)")
    parser.add_argument(
        "--delivery-timeout",
        type=float,
        default=None,
        help="seconds to wait for a phase's deliveries (default max(120, 0.1 s x events x webhooks))",
    )
    parser.add_argument(
        "--isolation-events", type=int, default=None, help="events per burst of scenario (f) (default 2000)"
    )
    parser.add_argument(
        "--slow-delay",
        type=float,
        default=1.0,
        help="seconds the slow endpoint of (f) takes to answer (default 1)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="skip scenario (c)")
    parser.add_argument("--skip-gateway", action="store_true", help="skip scenarios (a) and (b)")
    parser.add_argument("--skip-isolation", action="store_true", help="skip scenario (f)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra gateway setting, e.g. --set WEBHOOK_CONCURRENCY=256 (becomes BLUE_GATEWAY_NAME)",
    )
    args = parser.parse_args(argv)
    try:
        args.overrides = {
            "BLUE_GATEWAY_" + name.strip().upper().removeprefix("BLUE_GATEWAY_"): value
            for name, value in (item.split("=", 1) for item in args.set)
        }
    except ValueError:
        parser.error("--set takes NAME=VALUE")
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.delivery_timeout is None:
        args.delivery_timeout = max(120.0, 0.1 * args.events * args.webhooks)
    if args.events < 1 or args.concurrency < 1 or args.isolation_events < 1 or args.webhooks < 0:
        parser.error("--events, --isolation-events and --concurrency must be positive, --webhooks not negative")
    if args.slow_delay <= 0:
        parser.error("--slow-delay must be positive")
    return args


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _baselines(tmp: Path, args: argparse.Namespace) -> tuple[DbResult, DbResult, DbResult]:
    n, c, w = args.events, args.concurrency, max(1, args.webhooks)
    _log(f"(c) baseline: {n} events, one transaction each, {c} tasks")
    per_tx = await run_per_transaction(tmp / "baseline.db", n, c, w)
    _log(f"(c) the same writes through GroupCommitter, {c} tasks")
    group = await run_group_commit(tmp / "groupcommit.db", n, c, w)
    _log(f"(c) the same writes, group commit with merged statements, {c} tasks")
    merged = await run_merged_commit(tmp / "merged.db", n, c, w)
    return per_tx, group, merged


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the same cleanup as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    """Run the bench; 0 on success, 1 when a check failed, 130 when interrupted."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    report = Report(args.events, args.concurrency, args.webhooks, args.overrides, None, None, None, None)
    with tempfile.TemporaryDirectory(prefix="blue-gateway-bench-") as tmp_name:
        tmp = Path(tmp_name)
        procs = Processes(tmp)
        try:
            if not args.skip_baseline:  # first, while no gateway competes for the CPU
                report.per_tx, report.group, report.merged = asyncio.run(_baselines(tmp, args))
            if not (args.skip_gateway and args.skip_isolation):
                receiver = procs.start_receiver({"slow": args.slow_delay}, keyed=("fast", "slow"))
            if not args.skip_gateway:
                _log("starting the gateway (SQLite in a temp dir)")
                gateway, token = procs.start_gateway(args.overrides)
                _log(
                    f"gateway {gateway} (pid {procs.gateway_pid}), receiver {receiver}, settings {args.overrides}"
                )
                report.gateway = asyncio.run(
                    run_gateway_scenarios(
                        gateway,
                        receiver,
                        token,
                        events=args.events,
                        concurrency=args.concurrency,
                        webhooks=args.webhooks,
                        delivery_timeout=args.delivery_timeout,
                        pid=procs.gateway_pid,
                        log=_log,
                    )
                )
                procs.stop("gateway")  # (f) starts its own gateways
            if not args.skip_isolation:
                report.isolation = asyncio.run(
                    run_isolation(
                        procs,
                        receiver,
                        events=args.isolation_events,
                        delay=args.slow_delay,
                        concurrency=args.concurrency,
                        overrides=args.overrides,
                        timeout=args.delivery_timeout,
                        log=_log,
                    )
                )
        except BenchError as exc:
            _log(f"bench failed: {exc}")
            return 1
        except KeyboardInterrupt:
            _log("interrupted; stopping subprocesses")
            return 130
        finally:
            procs.stop_all()
    render(report)
    _log(f"done in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
