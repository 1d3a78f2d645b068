"""Tool-result cache: fast-crewai-server against CrewAI's in-process CacheHandler and Redis.

One run, side by side, from Python, with the same keys and values:

  * hit latency of CrewAI's own CacheHandler.read (an in-process dict behind a RW lock) against
    DaemonCacheHandler.read served from the near-cache (no I/O), and against
    DaemonCacheHandler.read without near-cache (the whole path: round trip, JSON decode);
  * round-trip hit (CacheService.Get on the shared channel) against the cheapest calls on the
    same channel (grpc.health.v1 Check of "" and ServerService.GetServerInfo): the RPC floor;
  * the RPC floor and the round-trip hit against a Redis GET (redis-server started on a free
    loopback port, redis-py client) of the same value;
  * hit ratio of the daemon's W-TinyLFU against a plain LRU at the same byte budget, on a Zipf
    trace (every miss is followed by a Put, as CrewAI does).

Latency tables print p50 and p99 over --calls interleaved calls; ratio = peer / fast-crewai
(above 1: fast-crewai is faster). Not run by the tests.

  FAST_CREWAI_SERVER_BIN=build/server/fast-crewai-server .venv/bin/python bench/cache_bench.py
  .venv/bin/python bench/cache_bench.py --calls 2000 --zipf-requests 40000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from harness import Table, interleaved, percentile  # noqa: E402
from server_process import free_port, running_daemon  # noqa: E402
import fast_crewai  # noqa: E402,F401  first, as a program imports the shim: gRPC tuning (docs/client.md)

# Quiet CrewAI (no telemetry, no network).
for key, value in {"CREWAI_DISABLE_TELEMETRY": "true", "CREWAI_DISABLE_TRACKING": "true",
                   "OTEL_SDK_DISABLED": "true", "CREWAI_TRACING_ENABLED": "false"}.items():
    os.environ.setdefault(key, value)

ENTRY_OVERHEAD = 128  # server/cache/tool_cache.h kEntryOverheadBytes


def start_redis() -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def latency_rows(table: Table, samples: dict[str, list[float]], ours: str, peer: str) -> None:
    for q in (50, 99):
        table.add(f"p{q}", percentile(samples[ours], q), percentile(samples[peer], q))


def hit_latency(endpoint: str, redis_port: int, calls: int, value_bytes: int) -> None:
    import grpc
    import redis

    from crewai.agents.cache.cache_handler import CacheHandler
    from fast_crewai.cache import DaemonCacheHandler, codec, near_cache, remote
    from fast_crewai.client.connection import get_connection
    from fast_crewai.v1 import cache_pb2, server_pb2, server_pb2_grpc

    os.environ["FAST_CREWAI_ENDPOINT"] = endpoint
    tool, tool_input = "web_search", json.dumps({"query": "sea otters diet"})
    value = "x" * value_bytes
    payload = codec.encode(value)
    assert payload is not None

    crewai_handler = CacheHandler()
    crewai_handler.add(tool=tool, input=tool_input, output=value)
    near = near_cache.current()
    assert near is not None and near.wait_subscribed(10), "invalidation stream not subscribed"
    near_handler = DaemonCacheHandler.create("bench")  # what the patch hands to agents
    near_handler.add(tool=tool, input=tool_input, output=value)
    assert near_handler.read(tool=tool, input=tool_input) == value  # fills the near-cache
    assert near.get(("bench", tool, tool_input)) == value
    daemon_handler = DaemonCacheHandler.create("bench", near_cache=False)
    assert daemon_handler.read(tool=tool, input=tool_input) == value

    connection = get_connection()
    channel = connection.channel()
    cache_stub = remote._link.cache_stub()
    server_stub = server_pb2_grpc.ServerServiceStub(channel)
    health = channel.unary_unary("/grpc.health.v1.Health/Check",
                                 request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
    get_request = cache_pb2.CacheGetRequest(
        key=cache_pb2.CacheKey(namespace="bench", tool=tool, input=tool_input))
    info_request = server_pb2.GetServerInfoRequest()
    r = redis.Redis(host="127.0.0.1", port=redis_port)
    redis_key = f"bench:{tool}-{tool_input}"
    r.set(redis_key, payload)
    assert cache_stub.Get(get_request, timeout=5).found

    def crewai_read(_: int) -> object:
        return crewai_handler.read(tool=tool, input=tool_input)

    def near_read(_: int) -> object:
        return near_handler.read(tool=tool, input=tool_input)

    def daemon_read(_: int) -> object:
        return daemon_handler.read(tool=tool, input=tool_input)

    def rpc_get(_: int) -> object:
        return cache_stub.Get(get_request, timeout=5)

    def rpc_health(_: int) -> object:
        return health(b"", timeout=5)

    def rpc_info(_: int) -> object:
        return server_stub.GetServerInfo(info_request, timeout=5)

    def redis_get(_: int) -> object:
        return r.get(redis_key)

    fns: dict[str, Callable[[int], object]] = {
        "crewai": crewai_read, "near_read": near_read, "daemon_read": daemon_read, "get": rpc_get,
        "health": rpc_health, "info": rpc_info, "redis": redis_get,
    }
    samples = interleaved(fns, calls, warmup=200)

    t = Table(f"cache hit, {value_bytes}-byte value: DaemonCacheHandler.read from the near-cache "
              "vs CrewAI CacheHandler.read (in-process dict)", "near-cache", "crewai", unit="us")
    latency_rows(t, samples, "near_read", "crewai")
    print(t.render())
    t = Table(f"cache hit, {value_bytes}-byte value: DaemonCacheHandler.read without near-cache "
              "(round trip + JSON) vs CrewAI CacheHandler.read", "round trip", "crewai", unit="us")
    latency_rows(t, samples, "daemon_read", "crewai")
    print(t.render())
    t = Table("round-trip hit (CacheService.Get) vs empty call on the same channel (Health.Check)",
              "Get", "Health.Check", unit="us")
    latency_rows(t, samples, "get", "health")
    print(t.render())
    t = Table("round-trip hit (CacheService.Get) vs ServerService.GetServerInfo, same channel",
              "Get", "GetServerInfo", unit="us")
    latency_rows(t, samples, "get", "info")
    print(t.render())
    t = Table("round-trip hit (CacheService.Get) vs Redis GET (redis-py, same value)",
              "Get", "redis GET", unit="us")
    latency_rows(t, samples, "get", "redis")
    print(t.render())
    t = Table("RPC floor (Health.Check) vs Redis GET", "Health.Check", "redis GET", unit="us")
    latency_rows(t, samples, "health", "redis")
    print(t.render())
    r.close()
    near_cache.shutdown()


class Lru:
    """Plain LRU by bytes, charging what the daemon charges."""

    def __init__(self, budget: int) -> None:
        self.budget, self.bytes, self.items = budget, 0, OrderedDict()

    def get(self, key: str) -> bool:
        if key in self.items:
            self.items.move_to_end(key)
            return True
        return False

    def put(self, key: str, charge: int) -> None:
        if key in self.items:
            self.bytes -= self.items.pop(key)
        self.items[key] = charge
        self.bytes += charge
        while self.bytes > self.budget:
            self.bytes -= self.items.popitem(last=False)[1]


def zipf_hit_ratio(data_root: Path, keys: int, s: float, requests: int, budget_mib: int) -> None:
    from fast_crewai.cache import remote
    from fast_crewai.client.connection import reset_connection

    rng = random.Random(20261126)
    sizes = [100 + rng.randrange(1000) for _ in range(keys)]
    weights = [1.0 / (k + 1) ** s for k in range(keys)]
    ranks = list(range(keys))
    rng.shuffle(ranks)  # popularity rank -> key id
    trace = [ranks[k] for k in rng.choices(range(keys), weights=weights, k=requests)]
    budget = budget_mib << 20
    namespace, tool = "zipf", "web_search"
    lru = Lru(budget)
    lru_hits = 0
    data_dir = data_root / "zipf"
    data_dir.mkdir()
    with running_daemon(data_dir, f"--cache_max_bytes={budget_mib}M") as endpoint:
        os.environ["FAST_CREWAI_ENDPOINT"] = endpoint
        reset_connection()
        ours_hits = 0
        start = time.perf_counter()
        for key_id in trace:
            tool_input = json.dumps({"query": f"q{key_id}"})
            value = b'"' + b"v" * sizes[key_id] + b'"'
            if remote.get(namespace, tool, tool_input).found:
                ours_hits += 1
            else:
                remote.put(namespace, tool, tool_input, value, "application/json")
            charge = len(namespace) + len(tool) + len(tool_input) + len(value) + \
                len("application/json") + ENTRY_OVERHEAD
            if lru.get(tool_input):
                lru_hits += 1
            else:
                lru.put(tool_input, charge)
        elapsed = time.perf_counter() - start
        stats = remote.stats("")
    total = sum(len(namespace) + len(tool) + 20 + n + 2 + 16 + ENTRY_OVERHEAD for n in sizes)
    print(f"== Zipf hit ratio, {keys:,} keys, s={s}, {requests:,} requests, budget "
          f"{budget_mib} MiB ({budget / total:.1%} of all values), through the daemon")
    print(f"  W-TinyLFU (daemon)  {ours_hits / requests:6.1%}")
    print(f"  plain LRU           {lru_hits / requests:6.1%}")
    print(f"  difference          {(ours_hits - lru_hits) / requests * 100:+6.1f} points")
    print(f"  daemon bytes {stats.bytes:,} <= budget {stats.max_bytes:,}; evictions "
          f"{stats.evictions:,}; {requests / elapsed:,.0f} lookups/s from one Python thread")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--zipf-keys", type=int, default=50000)
    parser.add_argument("--zipf-s", type=float, default=0.9)
    parser.add_argument("--zipf-requests", type=int, default=100000)
    parser.add_argument("--zipf-budget-mib", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found (apt-get install redis-server)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="cache-bench-"))
    redis_proc, redis_port = start_redis()
    try:
        (root / "hits").mkdir()
        with running_daemon(root / "hits") as endpoint:
            hit_latency(endpoint, redis_port, args.calls, args.value_bytes)
        zipf_hit_ratio(root, args.zipf_keys, args.zipf_s, args.zipf_requests,
                       args.zipf_budget_mib)
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
