"""Where the scenarios put what they measured: raw figures, and targets judged against them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Figures", "Target"]


@dataclass
class Target:
    """One target: the measured value, the bound, and whether it holds (``at_most``: value ≤ bound)."""

    label: str
    value: float | None
    bound: float
    at_most: bool = False
    unit: str = "x"

    @property
    def ok(self) -> bool | None:
        """None when the value could not be measured (a scenario failed or was skipped)."""
        if self.value is None:
            return None
        return self.value <= self.bound if self.at_most else self.value >= self.bound

    def as_json(self) -> dict[str, Any]:
        """``{"value", "target", "ok"}`` (the target as text, e.g. ``">= 0.3"``)."""
        return {
            "value": None if self.value is None else round(self.value, 4),
            "target": f"{'<=' if self.at_most else '>='} {self.bound:g}",
            "ok": self.ok,
        }


@dataclass
class Figures:
    """Everything one run measured, by name (``a.ceiling_rps``, ``b.batch_10k_dps`` …), and its notes."""

    values: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        """A figure, or None when it was not measured."""
        return self.values.get(name)

    def ratio(self, num: str, den: str) -> float | None:
        """``num / den``, or None when either is missing or the denominator is 0."""
        a, b = self.get(num), self.get(den)
        return a / b if a is not None and b else None
