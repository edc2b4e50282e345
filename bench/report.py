"""The targets of one run, judged from its figures; printed as a table and written to ``bench/results.json``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.figures import Figures, Target

__all__ = ["RESULTS", "render", "targets", "write"]

RESULTS = Path(__file__).resolve().parent / "results.json"


def targets(f: Figures) -> dict[str, Target]:
    """Every target, ratios taken within this run."""
    ceiling = "a.ceiling_rps"
    return {
        "b_batch_vs_ceiling": Target(
            "(b) batches, 10k events: dlv/s ÷ (a)", f.ratio("b.batch_10k_dps", ceiling), 0.3
        ),
        "b_single_vs_ceiling": Target("(b) single posts: dlv/s ÷ (a)", f.ratio("b.single_dps", ceiling), 0.2),
        "b_backlog_10k_vs_2k": Target(
            "(b) dlv/s with 10k events ÷ with 2k", f.ratio("b.batch_10k_dps", "b.batch_2k_dps"), 0.9
        ),
        "c_p99_at_200": Target("(c) p99 at 200 ev/s", f.get("c.p99_ms_at_200"), 25, at_most=True, unit="ms"),
        "c_p99_200_vs_5": Target(
            "(c) p99 at 200/s ÷ p99 at 5/s", f.ratio("c.p99_ms_at_200", "c.p99_ms_at_5"), 2, at_most=True
        ),
        "d_fanout_vs_ceiling": Target("(d) fan-out x100: dlv/s ÷ (a)", f.ratio("d.fanout_dps", ceiling), 0.3),
        "e_p50_many_vs_1": Target(
            "(e) ingest p50, 10k webhooks ÷ 1", f.ratio("e.p50_ms_many", "e.p50_ms_1"), 1.1, at_most=True
        ),
        "f_slow_share": Target(
            "(f) healthy dlv/s beside a 1 s endpoint ÷ reference",
            f.ratio("f.slow_healthy_dps", "f.reference_dps"),
            0.9,
        ),
        "f_hang_share": Target(
            "(f) healthy dlv/s beside a hanging endpoint ÷ reference",
            f.ratio("f.hang_healthy_dps", "f.reference_dps"),
            0.9,
        ),
        "g_batch_vs_ceiling": Target("(g) PG+Redis batches: dlv/s ÷ (a)", f.ratio("g.batch_dps", ceiling), 0.2),
        "g_p99_at_200": Target("(g) p99 at 200 ev/s", f.get("gc.p99_ms_at_200"), 50, at_most=True, unit="ms"),
        "h_peak_rss": Target(
            "(h) peak RSS holding the pending backlog", f.get("h.peak_rss_mb"), 300, at_most=True, unit="MB"
        ),
        "single_ingest_vs_bare": Target(
            "single ingest req/s ÷ bare Litestar", f.ratio("ingest.single_rps", "a.bare_litestar_rps"), 0.4
        ),
    }


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.1f} {unit}"


def render(figures: Figures, judged: dict[str, Target], out: Callable[[str], None] = print) -> None:
    """The figures, then every target with its value and ✓/✗."""
    out("")
    out(f"Blue Gateway benchmark, {os.cpu_count()} CPU(s); the load generator and receivers share them")
    out("figures")
    for name, value in figures.values.items():
        unit = "µs" if "_us" in name else "ms" if "_ms" in name else ("MB" if name.endswith("_mb") else "/s")
        out(f"  {name:<28} {value:>12,.1f} {unit}")
    for name, note in figures.notes.items():
        out(f"  {name}: {note}")
    for name, error in figures.errors.items():
        out(f"  {name} FAILED: {error}")
    out("")
    out(f"{'target':<58} {'measured':>12} {'wanted':>10}")
    out("-" * 86)
    for target in judged.values():
        mark = {True: "✓", False: "✗", None: "?"}[target.ok]
        wanted = f"{'≤' if target.at_most else '≥'} {_num(target.bound, target.unit)}"
        out(f"{target.label:<58} {_num(target.value, target.unit):>12} {wanted:>10}  {mark}")
    passed = sum(1 for t in judged.values() if t.ok)
    out(f"{passed} of {len(judged)} targets met")


def write(figures: Figures, judged: dict[str, Target], extra: dict[str, Any], path: Path = RESULTS) -> None:
    """``{"targets": {name: {"value", "target", "ok"}}, "figures": …, …}``."""
    doc = {
        "targets": {name: t.as_json() for name, t in judged.items()},
        "figures": {k: round(v, 3) for k, v in figures.values.items()},
        "notes": figures.notes,
        "errors": figures.errors,
        **extra,
    }
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
