"""The one module importing redis-py; translates its connection errors into ours."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from idp.errors import StorageUnavailable

__all__ = ["RedisError", "connect", "ping"]


def connect(url: str) -> Any:
    return redis_asyncio.from_url(url, decode_responses=False, health_check_interval=30)


async def ping(url: str) -> None:
    client = connect(url)
    try:
        await client.ping()
    except RedisError as exc:
        raise StorageUnavailable(f"Redis at {url} is not reachable: {exc}") from exc
    finally:
        await client.aclose()
