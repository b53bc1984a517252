"""The broadcast rate limiter: slots evenly spaced, shared through Redis, held by a pause.

Assertions are on the slots the limiter hands out (its own clock: a fake one for the local limiter, the
Redis server's for the Redis one), never on wall-clock tolerances that a loaded machine would break.
"""

import asyncio
import heapq
import itertools
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.config import get_settings
from worker.rate_limit import (
    IDLE_TTL_MS,
    KEY_PREFIX,
    LATE_LIMIT_SECONDS,
    LocalRateLimiter,
    RedisRateLimiter,
    create_rate_limiter,
    spacing,
)

# Redis tests run against TEST_REDIS_URL (a database of their own: the keys they make are deleted after).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


class FakeTime:
    """Virtual time: it moves only to the earliest sleeper's wake-up time, once every other task has run;
    slot times are exact, and tests take no time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = (self.now + max(seconds, 0.0), next(self._order))
        heapq.heappush(self._sleepers, wake)
        while True:
            await asyncio.sleep(0)  # every other ready task runs (and maybe sleeps) first
            if self._sleepers[0] == wake:
                break
        heapq.heappop(self._sleepers)
        self.now = max(self.now, wake[0])


def local_limiter(per_second: int) -> tuple[LocalRateLimiter, FakeTime]:
    fake = FakeTime()
    return LocalRateLimiter(per_second, clock=fake.clock, sleep=fake.sleep), fake


def assert_evenly_spaced(slots: list[float], interval: float) -> None:
    ordered = sorted(slots)
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    assert gaps, "need at least two slots"
    assert min(gaps) == pytest.approx(interval, abs=2e-6)
    assert max(gaps) == pytest.approx(interval, abs=2e-6)


def assert_never_closer(slots: list[float], interval: float) -> None:
    """Real time (the Redis tests): a sender that a loaded machine wakes up late takes a later slot, so
    gaps may be wider than the interval, never narrower."""
    ordered = sorted(slots)
    assert len(set(ordered)) == len(ordered)
    assert min(later - earlier for earlier, later in itertools.pairwise(ordered)) >= interval - 2e-6


def most_in_one_second(slots: list[float]) -> int:
    """The most slots any half-open one-second window holds."""
    ordered = sorted(slots)
    return max(
        sum(1 for other in ordered[index:] if other < start + 1.0) for index, start in enumerate(ordered)
    )


@pytest.mark.parametrize("per_second", [1, 25, 30, 1000])
def test_spacing_keeps_every_second_within_the_rate(per_second: int) -> None:
    interval = spacing(per_second)
    slots = [index * interval for index in range(3 * per_second)]
    assert interval >= 1 / per_second
    assert most_in_one_second(slots) <= per_second


def test_spacing_rejects_a_rate_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        spacing(0)


async def test_local_acquires_are_spaced_by_the_rate() -> None:
    limiter, fake = local_limiter(30)
    start = fake.now
    slots = [await limiter.acquire() for _ in range(31)]
    assert slots[0] == start
    assert_evenly_spaced(slots, spacing(30))
    # 31 sends take (31 - 1) / 30 s and the guard: no one-second window sees a 31st.
    assert slots[-1] - slots[0] >= 30 / 30
    assert most_in_one_second(slots) == 30


async def test_local_concurrent_acquires_share_the_rate() -> None:
    limiter, _ = local_limiter(10)
    slots = await asyncio.gather(*(limiter.acquire() for _ in range(25)))
    assert_evenly_spaced(list(slots), spacing(10))
    assert most_in_one_second(list(slots)) <= 10


async def test_local_idle_limiter_gives_the_next_slot_at_once() -> None:
    limiter, fake = local_limiter(5)
    await limiter.acquire()
    fake.now += 60
    assert await limiter.acquire() == fake.now


async def test_local_pause_holds_every_acquirer_until_it_passes() -> None:
    limiter, fake = local_limiter(10)
    await limiter.acquire()
    paused_at = fake.now
    await limiter.pause(3)
    slots = await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    assert min(slots) >= paused_at + 3
    assert_evenly_spaced(list(slots), spacing(10))


async def test_local_pause_moves_a_slot_given_out_before_it() -> None:
    fake = FakeTime()
    paused = False
    paused_until = 0.0

    async def sleep(seconds: float) -> None:
        # A 429 arrives while this sender waits for its slot.
        nonlocal paused, paused_until
        if not paused:
            paused = True
            paused_until = fake.now + 2
            await limiter.pause(2)
        await fake.sleep(seconds)

    limiter = LocalRateLimiter(1, clock=fake.clock, sleep=sleep)
    await limiter.acquire()
    second = await limiter.acquire()
    assert second >= paused_until


async def test_local_shorter_pause_does_not_shorten_a_longer_one() -> None:
    limiter, fake = local_limiter(10)
    start = fake.now
    await limiter.pause(5)
    await limiter.pause(1)
    assert await limiter.acquire() >= start + 5


def test_create_rate_limiter_shares_one_local_limiter_per_key() -> None:
    settings = get_settings()
    first = create_rate_limiter(settings, redis=None, per_second=25, key="broadcasts-test")
    assert create_rate_limiter(settings, redis=None, per_second=25, key="broadcasts-test") is first
    assert create_rate_limiter(settings, redis=None, per_second=25, key="other-test") is not first
    assert isinstance(first, LocalRateLimiter)


# ---------------------------------------------------------------- Redis

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Redis tests")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def key(redis: Redis) -> AsyncIterator[str]:
    name = f"test-{uuid.uuid4().hex}"
    yield name
    await redis.delete(f"{KEY_PREFIX}{name}")


async def server_time(redis: Redis) -> float:
    seconds, microseconds = await redis.time()
    return seconds + microseconds / 1e6


async def slots_given_out(limiter: RedisRateLimiter, *, after: float, count: int) -> None:
    """Wait until `count` more slots after the slot `after` were given out."""
    wanted = after * 1e6 + (count + 1) * limiter.interval_us - 1
    for _ in range(5000):
        if int(await limiter.redis.hget(limiter.key, "next") or 0) >= wanted:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{count} slots were not given out")


@needs_redis
async def test_redis_acquires_are_spaced_by_the_rate(redis: Redis, key: str) -> None:
    limiter = create_rate_limiter(get_settings(), redis=redis, per_second=100, key=key)
    assert isinstance(limiter, RedisRateLimiter)
    slots = [await limiter.acquire() for _ in range(21)]
    assert_never_closer(slots, limiter.interval_us / 1e6)
    assert slots[-1] - slots[0] >= 20 / 100
    assert most_in_one_second(slots) <= 100


@needs_redis
async def test_redis_limiters_on_one_key_share_the_rate(redis: Redis, key: str) -> None:
    # Two clients with their own connections, as two worker processes have.
    other = Redis.from_url(REDIS_URL)
    try:
        first = RedisRateLimiter(redis, 20, key=key)
        second = RedisRateLimiter(other, 20, key=key)
        slots = await asyncio.gather(*(limiter.acquire() for limiter in [first, second] * 10))
    finally:
        await other.aclose()
    assert len(slots) == 20
    assert_never_closer(list(slots), first.interval_us / 1e6)
    assert most_in_one_second(list(slots)) <= 20


@needs_redis
async def test_redis_pause_holds_every_acquirer_until_it_passes(redis: Redis, key: str) -> None:
    other = Redis.from_url(REDIS_URL)
    try:
        pauser = RedisRateLimiter(other, 10, key=key)
        limiter = RedisRateLimiter(redis, 10, key=key)
        first = await limiter.acquire()
        # Four senders already hold slots (0.1 s apart) when a 429 comes from another process.
        waiting = [asyncio.create_task(limiter.acquire()) for _ in range(4)]
        await slots_given_out(limiter, after=first, count=4)
        paused_at = await server_time(redis)
        await pauser.pause(0.5)
        later = await asyncio.gather(*waiting, pauser.acquire())
    finally:
        await other.aclose()
    assert first < paused_at
    assert min(later) >= paused_at + 0.5
    assert_never_closer(list(later), limiter.interval_us / 1e6)


@needs_redis
async def test_redis_keys_expire_when_idle(redis: Redis, key: str) -> None:
    limiter = RedisRateLimiter(redis, 5, key=key)
    await limiter.acquire()
    await limiter.pause(2)
    ttl = await redis.pttl(f"{KEY_PREFIX}{key}")
    assert IDLE_TTL_MS < ttl <= IDLE_TTL_MS + 2_500


async def test_local_late_sender_takes_a_new_slot() -> None:
    fake = FakeTime()
    overslept = False

    async def sleep(seconds: float) -> None:
        # The process stalls once, 0.1 s past the sender's slot.
        nonlocal overslept
        await fake.sleep(seconds if overslept else seconds + 0.1)
        overslept = True

    limiter = LocalRateLimiter(10, clock=fake.clock, sleep=sleep)
    first = await limiter.acquire()
    second = await limiter.acquire()

    # Its slot (first + interval) had passed by more than the guard: it got the next one instead.
    assert second == pytest.approx(first + 2 * limiter.interval)
    assert fake.now - second <= LATE_LIMIT_SECONDS


@needs_redis
async def test_redis_late_sender_takes_a_new_slot(redis: Redis, key: str) -> None:
    overslept = False

    async def sleep(seconds: float) -> None:
        nonlocal overslept
        await asyncio.sleep(seconds if overslept else seconds + 0.1)
        overslept = True

    limiter = RedisRateLimiter(redis, 10, key=key, sleep=sleep)
    first = await limiter.acquire()
    second = await limiter.acquire()

    assert second >= first + 2 * limiter.interval_us / 1e6 - 1e-6
