"""Broker names come from one prefix, so gateways and other taskiq apps can share a broker."""

from __future__ import annotations

import pytest

from gateway.delivery.broker import BrokerNames, make_broker
from gateway.settings import Settings, SettingsError


def test_default_prefix_keeps_the_redis_and_nats_names() -> None:
    names = BrokerNames()
    assert names.redis_list == "blue_gateway_deliveries"
    assert (names.nats_stream, names.nats_subject) == ("blue_gateway", "blue_gateway.deliveries")
    assert (names.amqp_exchange, names.amqp_queue) == ("blue_gateway", "blue_gateway_deliveries")


def test_every_name_carries_the_prefix() -> None:
    names = BrokerNames("eu-1")
    assert names.redis_list == "eu-1_deliveries"
    assert (names.amqp_exchange, names.amqp_queue) == ("eu-1", "eu-1_deliveries")
    assert (names.nats_stream, names.nats_subject) == ("eu-1", "eu-1.deliveries")


@pytest.mark.parametrize("prefix", ["", "a.b", "a b", "a*", "x" * 65])
def test_unsafe_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(SettingsError, match="BROKER_PREFIX"):
        Settings.from_env({"BLUE_GATEWAY_BROKER_PREFIX": prefix or " "})
    with pytest.raises(ValueError, match="prefix"):
        make_broker("redis://127.0.0.1:6379/0", prefix=prefix)


def test_log_format_and_worker_port_are_checked() -> None:
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        Settings.from_env({"BLUE_GATEWAY_LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="WORKER_PORT"):
        Settings.from_env({"BLUE_GATEWAY_WORKER_PORT": "70000"})
    assert Settings.from_env({"BLUE_GATEWAY_WORKER_PORT": "0"}).worker_port == 0
