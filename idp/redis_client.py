"""The one module importing redis-py; translates its connection errors into ours."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from idp.errors import StorageUnavailable

__all__ = ["RedisError", "connect", "ping", "unavailable"]


def connect(url: str, *, timeout: float | None = None) -> Any:
    """A client for `url`. With `timeout`, connecting and each command give up after that many seconds (a Redis
    that hangs fails requests with 503 instead of holding them); the client reconnects by itself on the next
    command once Redis is back."""
    return redis_asyncio.from_url(url, decode_responses=False, health_check_interval=30,
                                  socket_timeout=timeout, socket_connect_timeout=timeout)


def unavailable(exc: RedisError) -> StorageUnavailable:
    """Our error for a Redis failure: its class and message, never the URL (it may carry a password)."""
    return StorageUnavailable(f"Redis: {type(exc).__name__}: {exc}")


async def ping(url: str, *, seconds: float | None = None) -> None:
    client = connect(url, timeout=seconds)
    try:
        await client.ping()
    except RedisError as exc:
        raise unavailable(exc) from exc
    finally:
        await client.aclose()
