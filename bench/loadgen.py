"""Fallback load generator (used by the API benchmarks only when `wrk` is not installed).

    python -m bench.loadgen --url http://127.0.0.1:8101/health --connections 50 --duration 10

Keeps `--connections` requests in flight over keep-alive connections (httpx, asyncio) for `--duration`
seconds and prints one line, `LOADGEN {json}`, with the same fields as the wrk script in bench/common.py.
A URL containing "{id}" gets a random integer in [1, --id-max] for every request, "{word}" one of the
--word values. Any response other than
2xx counts as an error. Being Python, it needs a core of its own and tops out at a few thousand requests
per second, so it understates fast servers: prefer wrk.
"""

import argparse
import asyncio
import json
import random
import time

import httpx


async def worker(
    client: httpx.AsyncClient,
    url: str,
    id_max: int,
    words: list[str],
    deadline: float,
    latencies: list[float],
    counters: dict[str, int],
) -> None:
    while time.perf_counter() < deadline:
        target = url.replace("{id}", str(random.randint(1, id_max))) if "{id}" in url else url
        if words:
            target = target.replace("{word}", random.choice(words))
        started = time.perf_counter()
        try:
            response = await client.get(target)
            await response.aread()
        except httpx.TimeoutException:
            counters["timeout"] += 1
            continue
        except httpx.HTTPError:
            counters["read"] += 1
            continue
        latencies.append(time.perf_counter() - started)
        counters["bytes"] += len(response.content)
        if not 200 <= response.status_code < 300:
            counters["status"] += 1


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(
    url: str, *, connections: int, duration: float, headers: dict[str, str], id_max: int, words: list[str]
) -> dict:
    latencies: list[float] = []
    counters = {"bytes": 0, "connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10.0, headers=headers) as client:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(
            *(worker(client, url, id_max, words, deadline, latencies, counters) for _ in range(connections))
        )
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    micros = [x * 1e6 for x in ordered]
    return {
        "requests": len(latencies) + counters["timeout"] + counters["read"],
        "duration_us": round(elapsed * 1e6),
        **counters,
        "p50_us": percentile(micros, 0.50),
        "p90_us": percentile(micros, 0.90),
        "p95_us": percentile(micros, 0.95),
        "p99_us": percentile(micros, 0.99),
        "max_us": micros[-1] if micros else 0.0,
        "mean_us": sum(micros) / len(micros) if micros else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    parser.add_argument("--id-max", type=int, default=1)
    parser.add_argument("--word", action="append", default=[], help="a value for {word}, repeatable")
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    coroutine = run(
        args.url,
        connections=args.connections,
        duration=args.duration,
        headers=headers,
        id_max=args.id_max,
        words=args.word,
    )
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coroutine)
    else:
        result = uvloop.run(coroutine)
    print("LOADGEN " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
