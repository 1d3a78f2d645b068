"""Python grpcio client for the experiment (same stdin/stdout protocol as grpc_exp_client).

Needs no generated stubs: Req{payload=1: bytes} and Resp are hand-encoded, the
method is called through channel.unary_unary with raw bytes.
"""
import argparse
import statistics
import sys
import threading
import time

import grpc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1:50999")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=300)
    a = ap.parse_args()
    payload = b"p" * 200
    req = b"\x0a" + bytes([len(payload) & 0x7F | 0x80, len(payload) >> 7]) + payload
    calls = []
    for i in range(a.threads):
        ch = grpc.insecure_channel(a.addr, options=[("grpc.exp_channel_id", i),
                                                    ("grpc.use_local_subchannel_pool", 1)])
        calls.append(ch.unary_unary("/grpcexp.Bench/Call"))
    for c in calls:
        for _ in range(a.warmup):
            c(req)
    print("WARM", flush=True)
    sys.stdin.readline()
    end = time.perf_counter() + a.seconds
    lats = [[] for _ in calls]

    def work(i):
        c, lat = calls[i], lats[i]
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            c(req)
            lat.append((time.perf_counter() - t0) * 1e6)

    start = time.perf_counter()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - start
    allv = sorted(x for l in lats for x in l)
    p50 = allv[len(allv) // 2]
    p99 = allv[int(0.99 * (len(allv) - 1))]
    print(f"DONE {len(allv)} {len(allv) / elapsed:.1f} {p50:.1f} {p99:.1f} 0", flush=True)


if __name__ == "__main__":
    main()
