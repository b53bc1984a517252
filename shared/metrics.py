"""Prometheus metrics of every process (prometheus-client). Counted always (a counter is an integer add);
served only when asked: the API at /metrics with METRICS_ENABLED, the bot and workers on METRICS_PORT.

Counters of money paths count the changes as they are made inside a unit of work; one rolled back
afterwards (rare: the database refused the commit) is still counted. The database is the ledger.
"""

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

PREFIX = "lesson_store_"

http_requests = Counter(f"{PREFIX}http_requests", "HTTP requests answered", ["method", "handler", "status"])
http_request_seconds = Histogram(
    f"{PREFIX}http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "handler"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
bot_updates = Counter(f"{PREFIX}bot_updates", "Telegram updates handled", ["type"])
payments = Counter(f"{PREFIX}payments", "Purchases that became paid (completed), by kind", ["kind"])
refunds = Counter(f"{PREFIX}refunds", "Purchases refunded")
deliveries = Counter(f"{PREFIX}deliveries", "Deliveries of paid content, by outcome", ["outcome"])
delivery_retries = Counter(f"{PREFIX}delivery_retries", "Deliveries finished by the redelivery job")
broadcast_messages = Counter(
    f"{PREFIX}broadcast_messages",
    "Broadcast sends by outcome: sent, blocked, retry (failed attempt), requeue (not attempted)",
    ["outcome"],
)
telegram_errors = Counter(
    f"{PREFIX}telegram_errors", "Bot API calls Telegram refused, by error code (429, 403, ...)", ["code"]
)
jobs_running = Gauge(f"{PREFIX}jobs_running", "Jobs running in this process")
job_queue_depth = Gauge(f"{PREFIX}job_queue_depth", "Jobs waiting in the Redis queue or unacknowledged")


def serve(port: int) -> None:
    """Serve /metrics on this port from a thread of its own (processes that have no HTTP server)."""
    start_http_server(port, addr="0.0.0.0")  # noqa: S104 (scraped by Prometheus from another host)
    logger.info("Metrics served at :%s/metrics", port)
