"""Reading a ``/metrics`` answer with the Prometheus client's own parser, apart from the gateway's code."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["families", "sample"]


def families(text: str) -> dict[str, str]:
    """Every metric family the text declares, by name, with its type (``counter``, ``histogram`` ...)."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` with exactly ``labels`` (0 when it is absent: nothing counted yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0
