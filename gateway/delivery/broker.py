"""The one place that turns a broker URL into a taskiq broker."""

from __future__ import annotations

from taskiq import AsyncBroker, InMemoryBroker

__all__ = ["DELIVER_TASK", "make_broker"]

DELIVER_TASK = "blue_gateway.deliver"


def make_broker(url: str, *, max_async_tasks: int = 64) -> AsyncBroker:
    """``memory://`` (in-process), ``redis://``, ``amqp://`` or ``nats://``; the broker only carries ids."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return InMemoryBroker(max_async_tasks=max_async_tasks)
    if scheme in ("redis", "rediss"):
        from taskiq_redis import ListQueueBroker

        return ListQueueBroker(url, queue_name="blue_gateway_deliveries")
    if scheme in ("amqp", "amqps"):
        from taskiq_aio_pika import AioPikaBroker

        return AioPikaBroker(url)
    if scheme in ("nats", "tls"):
        from taskiq_nats import PullBasedJetStreamBroker

        return PullBasedJetStreamBroker(
            servers=[url], subject="blue_gateway.deliveries", stream_name="blue_gateway", durable="blue_gateway"
        )
    raise ValueError(f"unsupported broker URL scheme {scheme!r}: use memory://, redis://, amqp:// or nats://")
