"""The plugin scaffold's names and refusals (its output is run for real in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.scaffold import ScaffoldError, plugin_names, write_plugin


def test_names_follow_the_connector_name() -> None:
    assert plugin_names("acme-crm") == {
        "name": "acme-crm",
        "dist": "blue-gateway-acme-crm",
        "module": "blue_gateway_acme_crm",
        "cls": "AcmeCrmConnector",
    }


@pytest.mark.parametrize("name", ["", "Acme", "1crm", "crm-", "a b", "crm;rm", "x" * 41])
def test_bad_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="connector name"):
        write_plugin(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_taken_name_and_existing_folder_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="taken"):
        write_plugin("chat", tmp_path, taken=["chat", "webhook"])
    (tmp_path / "blue-gateway-crm").mkdir()
    with pytest.raises(ScaffoldError, match="already exists"):
        write_plugin("crm", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["blue-gateway-crm"]


def test_written_package_declares_its_entry_point(tmp_path: Path) -> None:
    root = write_plugin("crm", tmp_path)
    pyproject = (root / "pyproject.toml").read_text()
    assert (
        '[project.entry-points."blue_gateway.connectors"]\ncrm = "blue_gateway_crm.connector:CrmConnector"'
        in pyproject
    )
    assert "from connectors.api import" in (root / "blue_gateway_crm" / "connector.py").read_text()
    assert (root / "blue_gateway_crm" / "default.json.j2").is_file()
