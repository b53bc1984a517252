"""The send rate of broadcasts, shared by every sender: evenly spaced slots (GCRA-like), never bursts.

- `LocalRateLimiter`: the senders of one process (the embedded mode, where the API process runs every job).
- `RedisRateLimiter`: the senders of every process (`python -m worker`, any number), through one atomic Lua
  script on Redis, timed by the Redis server's clock so that the processes' clocks do not matter.

A sender calls `acquire()` before each request; it returns at the sender's slot. Slots are
`(1 + SPACING_GUARD) / per_second` apart, so a sliding one-second window at the receiver never counts more
than `per_second`, even when a request is delayed on its way by up to the guard. A 429 makes the sender call
`pause(retry_after)`: no slot is given out before it has passed, in any process, and a sender already
waiting for a slot inside the pause gets a new one after it.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import Redis

from shared.config import Settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "lesson-store:rate:"
# Telegram counts requests as they arrive; one that took a few more milliseconds on its way than the one
# a second before it (a busy event loop, the network) must still land outside that one's window.
SPACING_GUARD = 0.03
# The limiter's keys outlive its last slot or pause by this long, then Redis drops them.
IDLE_TTL_MS = 60_000

Sleep = Callable[[float], Awaitable[None]]

_local_limiters: dict[tuple[str, int], "LocalRateLimiter"] = {}


class RateLimiter(Protocol):
    async def acquire(self) -> float:
        """Wait for this sender's next slot (of the rate shared by every sender); the slot's time, in
        seconds on the limiter's clock."""

    async def pause(self, seconds: float) -> None:
        """A 429: no slot is given out before now + seconds, to any sender."""


def spacing(per_second: int) -> float:
    """Seconds between two slots at this rate."""
    if per_second < 1:
        raise ValueError(f"a rate must be at least 1 a second, not {per_second}")
    return (1 + SPACING_GUARD) / per_second


class LocalRateLimiter:
    """The rate shared by the senders of this process."""

    def __init__(
        self, per_second: int, *, clock: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.interval = spacing(per_second)
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")

    async def acquire(self) -> float:
        slot = self._take()
        while True:
            now = self._clock()
            if slot > now:
                await self._sleep(slot - now)
                continue
            if self._paused_until <= slot:
                return slot
            # A 429 came while this sender waited: its slot fell inside the pause.
            slot = self._take()

    def _take(self) -> float:
        slot = max(self._clock(), self._next_slot, self._paused_until)
        self._next_slot = slot + self.interval
        return slot

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + seconds)


# KEYS[1]: the limiter's hash: "next" (the next free slot) and "paused" (no slot before it), in
# microseconds of the Redis server's clock. ARGV[1]: microseconds between slots; ARGV[2]: the slot the
# caller holds (0: none). Returns {slot, now}: the caller may send once now >= slot, else waits and asks
# again with that slot (kept unless a pause came meanwhile).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'next', 'paused')
local next_slot = tonumber(state[1]) or 0
local paused = tonumber(state[2]) or 0
local held = tonumber(ARGV[2])
if held > 0 and paused <= held then
  return {held, now}
end
local slot = math.max(now, next_slot, paused)
next_slot = slot + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'next', string.format('%.0f', next_slot))
local ttl = math.max(next_slot, paused) - now
redis.call('PEXPIRE', KEYS[1], math.floor(ttl / 1000) + tonumber(ARGV[3]))
return {slot, now}
"""

# ARGV[1]: microseconds of pause from now. Returns the end of the pause.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'next', 'paused')
local next_slot = tonumber(state[1]) or 0
local paused = math.max(tonumber(state[2]) or 0, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'paused', string.format('%.0f', paused))
redis.call('PEXPIRE', KEYS[1], math.floor((math.max(next_slot, paused) - now) / 1000) + tonumber(ARGV[2]))
return paused
"""


class RedisRateLimiter:
    """The rate shared by the senders of every process using the same Redis and key."""

    def __init__(self, redis: Redis, per_second: int, *, key: str, sleep: Sleep = asyncio.sleep) -> None:
        self.redis = redis
        self.key = f"{KEY_PREFIX}{key}"
        # Whole microseconds, rounded up: the rate never exceeds per_second.
        self.interval_us = -(-int(spacing(per_second) * 1e9) // 1000)
        self._sleep = sleep
        self._acquire = redis.register_script(_ACQUIRE)
        self._pause = redis.register_script(_PAUSE)

    async def acquire(self) -> float:
        held = 0
        while True:
            slot, now = await self._acquire(keys=[self.key], args=[self.interval_us, held, IDLE_TTL_MS])
            slot, now = int(slot), int(now)
            if slot <= now:
                return slot / 1e6
            await self._sleep((slot - now) / 1e6)
            held = slot

    async def pause(self, seconds: float) -> None:
        until = await self._pause(keys=[self.key], args=[max(int(seconds * 1e6), 0), IDLE_TTL_MS])
        logger.info("Sends on %s paused for %.1f s (until %s µs server time)", self.key, seconds, until)

    async def clear(self) -> None:
        """Forget the slots and the pause (tests)."""
        with contextlib.suppress(Exception):
            await self.redis.delete(self.key)


def create_rate_limiter(
    settings: Settings,  # noqa: ARG001 (the contract's signature: the limiter's tuning may move to settings)
    *,
    redis: Redis | None,
    per_second: int,
    key: str,
) -> RateLimiter:
    """The limiter for a rate shared by every sender of `key`: through Redis when there is one (several
    processes), else within this process."""
    if redis is None:
        # One limiter per key in the process: the senders of concurrent jobs share it.
        limiter = _local_limiters.get((key, per_second))
        if limiter is None:
            limiter = _local_limiters[key, per_second] = LocalRateLimiter(per_second)
        return limiter
    return RedisRateLimiter(redis, per_second, key=key)
