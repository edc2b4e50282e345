"""Settings from ``BLUE_GATEWAY_*`` environment variables."""

from __future__ import annotations

import pytest

from gateway.settings import Settings, SettingsError


def test_defaults_are_the_embedded_gateway() -> None:
    s = Settings.from_env({})
    assert s.database_url == "sqlite+aiosqlite:///./blue-gateway.db"
    assert s.broker_url == "memory://"
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert s.attempt_timeout == 15
    assert s.max_body_bytes == 1024 * 1024
    assert s.disable_after == 5 * 86400
    assert s.retention == 30 * 86400
    assert s.allow_private_targets is False
    assert s.schedule().delays[:3] == [0, 5, 300]


def test_values_are_read_and_converted() -> None:
    s = Settings.from_env(
        {
            "BLUE_GATEWAY_PORT": "9000",
            "BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "yes",
            "BLUE_GATEWAY_ATTEMPT_TIMEOUT": "500ms",
            "BLUE_GATEWAY_RETENTION": "7d",
            "BLUE_GATEWAY_RETRY_SCHEDULE": "0,1s,2m",
        }
    )
    assert s.port == 9000
    assert s.allow_private_targets is True
    assert s.attempt_timeout == 0.5
    assert s.retention == 7 * 86400
    assert s.schedule().delays == [0, 1, 120]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"BLUE_GATEWAY_PORT": "eighty"}, "BLUE_GATEWAY_PORT"),
        ({"BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS": "maybe"}, "true or false"),
        ({"BLUE_GATEWAY_RETRY_SCHEDULE": "0,soon"}, "RETRY_SCHEDULE"),
        ({"BLUE_GATEWAY_DATABASE_URL": "postgresql+asyncpg://db/x"}, "SECRET_KEY is required"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env)


def test_postgres_works_with_a_secret_key() -> None:
    s = Settings.from_env(
        {"BLUE_GATEWAY_DATABASE_URL": "postgresql+asyncpg://db/x", "BLUE_GATEWAY_SECRET_KEY": "k"}
    )
    assert not s.is_sqlite
