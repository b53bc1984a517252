"""The jobs: each a plain async function, registered here by name (and, for periodic ones, how often they
run), and bound to a broker by worker.engine."""

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
