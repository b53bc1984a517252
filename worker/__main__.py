"""`python -m worker`: run jobs from Redis (REDIS_URL), as many such processes as you like.
`python -m worker scheduler`: enqueue the periodic jobs when due; one runs at a time (others wait).

Without REDIS_URL there is nothing to run here: the API process runs the jobs itself.
"""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from redis.exceptions import LockError
from taskiq.api import run_receiver_task

from bot.app import check_token, create_bot
from shared import database, logs, metrics
from shared.config import Settings, get_settings
from shared.setup_checks import SetupError, check_bot_token, check_database
from worker.engine import KEY_PREFIX, LOCK_TTL_SECONDS, Engine, keep_renewed

logger = logging.getLogger("worker")

# How many jobs one worker runs at once.
MAX_CONCURRENT_JOBS = 20
QUEUE_MEASURE_SECONDS = 15


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", choices=["worker", "scheduler"], default="worker")
    role = parser.parse_args(argv).role
    settings = get_settings()
    logs.configure(settings)
    if not settings.REDIS_URL:
        logger.error("REDIS_URL is not set: the API process runs the jobs itself; no worker is needed")
        return 2
    try:
        return await (schedule(settings) if role == "scheduler" else work(settings))
    except SetupError as error:
        logger.error("%s", error)
        return 1


async def _until_stopped(*tasks: "asyncio.Task[None]") -> None:
    """Run until one of the tasks ends or SIGTERM/SIGINT comes."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in (stopped, *tasks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def work(settings: Settings) -> int:
    if not check_bot_token(settings.TELEGRAM_BOT_TOKEN.get_secret_value()):
        logger.error("The bot is off: set TELEGRAM_BOT_TOKEN (jobs reach Telegram through it)")
        return 2
    await check_database(settings.DATABASE_URL)
    await database.migrate()
    bot = create_bot(settings)
    engine = Engine(settings, bot=bot)
    try:
        await check_token(bot)
        await engine.startup()
        engine.start_loops()
        logger.info("Worker ready: running jobs from Redis")
        receiver = asyncio.create_task(
            run_receiver_task(engine.broker, max_async_tasks=MAX_CONCURRENT_JOBS), name="job-receiver"
        )
        tasks = [receiver]
        if settings.METRICS_PORT:
            metrics.serve(settings.METRICS_PORT)
            tasks.append(asyncio.create_task(_measure_queue(engine), name="queue-depth"))
        await _until_stopped(*tasks)
    finally:
        await engine.shutdown()
        await bot.session.close()
        await database.dispose_engine()
    return 0


async def _measure_queue(engine: Engine) -> None:
    while True:
        try:
            metrics.job_queue_depth.set(await engine.queue_depth())
        except Exception:
            logger.exception("Could not measure the job queue")
        await asyncio.sleep(QUEUE_MEASURE_SECONDS)


async def schedule(settings: Settings) -> int:
    engine = Engine(settings, bot=None)
    assert engine.redis is not None
    # One scheduler at a time: the others wait for its lease, which ends LOCK_TTL_SECONDS after it dies.
    lease = engine.redis.lock(f"{KEY_PREFIX}scheduler", timeout=LOCK_TTL_SECONDS, blocking=True)
    try:
        await engine.startup()
        logger.info("Scheduler waiting for its turn (one runs at a time)")
        await lease.acquire()
        logger.info("Scheduler running: periodic jobs are enqueued from here")
        scheduler = asyncio.create_task(engine.run_scheduler(), name="job-scheduler")
        # A lost lease ends this scheduler: the standby takes over.
        keeper = asyncio.create_task(keep_renewed(lease), name="scheduler-lease")
        await _until_stopped(scheduler, keeper)
    finally:
        with contextlib.suppress(LockError):
            await lease.release()
        await engine.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
