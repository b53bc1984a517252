"""The jobs: each a plain async function, registered here by name (and, for periodic ones, how often they
run), and bound to a broker by worker.engine; and the loops that run beside them in every process running
the jobs."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared.config import Settings

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    # Seconds between runs for a periodic job (None: not periodic, or off under these settings).
    every: Callable[[Settings], int | None] | None = None


JOBS: dict[str, Job] = {}


def job(
    name: str, *, every: int | Callable[[Settings], int | None] | None = None
) -> Callable[[JobFunction], JobFunction]:
    """Register a job. `every`: seconds between runs of a periodic job, or a function of the settings."""

    def register(function: JobFunction) -> JobFunction:
        if name in JOBS:
            raise ValueError(f"job {name!r} is registered twice")
        interval = every if every is None or callable(every) else (lambda _settings, seconds=every: seconds)
        JOBS[name] = Job(name, function, interval)
        return function

    return register


# A loop of every process that runs the jobs (each `python -m worker`, the embedded mode's host), for its
# whole life; it gets the broker's state (the bot, the settings, the queue, Redis) and may keep things on it.
ProcessLoop = Callable[[Any], Awaitable[None]]
LOOPS: dict[str, ProcessLoop] = {}


def process_loop(name: str) -> Callable[[ProcessLoop], ProcessLoop]:
    """Register a loop that runs in every process running the jobs, rather than in one of them."""

    def register(function: ProcessLoop) -> ProcessLoop:
        if name in LOOPS:
            raise ValueError(f"loop {name!r} is registered twice")
        LOOPS[name] = function
        return function

    return register
