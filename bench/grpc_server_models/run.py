#!/usr/bin/env python3
"""Driver for the gRPC server-model experiment (see README.md in this folder).

Starts grpc_exp_server (one model/handler per process), runs a client process
(C++ grpc_exp_client, or py_client.py), and reads the server's getrusage deltas
over the timed window. Rounds are interleaved; medians are printed.

  python3 bench/grpc_server_models/run.py --build build-grpc-models [--rounds 3] [--seconds 2]
      [--models cb,sync,...] [--handlers empty,inline,group] [--ns 1,16] [--py]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = {
    # name: (server flags, extra env)
    "cb": (["--model=cb"], {}),
    "cb-poll": (["--model=cb"], {"GRPC_POLL_STRATEGY": "poll"}),
    "cb-lat": (["--model=cb", "--opt=latency"], {}),
    "cb-thr": (["--model=cb", "--opt=throughput"], {}),
    "sync": (["--model=sync"], {}),
    "sync-p1": (["--model=sync", "--min_pollers=1", "--max_pollers=1"], {}),
    "sync-p2": (["--model=sync", "--min_pollers=2", "--max_pollers=4"], {}),
    "async1": (["--model=async", "--cqs=1"], {}),
    "async2": (["--model=async", "--cqs=2"], {}),
    # One CQ Next()-ed by two threads: what the callback server's alternative CQ does.
    "async1x2": (["--model=async", "--cqs=1", "--threads_per_cq=2"], {}),
}


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def proc_jiffies(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])


def wait_idle(max_busy=0.15, max_wait=30.0):
    """Waits until the machine is nearly idle (other sessions compile here)."""
    deadline = time.time() + max_wait
    while True:
        b0, t0 = cpu_jiffies()
        time.sleep(0.3)
        b1, t1 = cpu_jiffies()
        busy = (b1 - b0) / max(1, t1 - t0)
        if busy <= max_busy or time.time() > deadline:
            return busy
        time.sleep(1.0)


def stat(server):
    server.stdin.write("s\n")
    server.stdin.flush()
    parts = server.stdout.readline().split()
    assert parts[0] == "STAT", parts
    return [int(x) for x in parts[1:]]


def run_one(args, model, handler, n, client_kind, port):
    flags, env_extra = MODELS[model]
    env = dict(os.environ, **env_extra)
    addr = f"127.0.0.1:{port}"
    data = os.path.join(args.build, f"exp_data_{port}.dat")
    server = subprocess.Popen(
        [os.path.join(args.build, "grpc_exp_server"), f"--addr={addr}",
         f"--handler={handler}", f"--file={data}"] + flags,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout.readline().strip() == "READY"
        if client_kind == "py":
            cmd = [args.python, os.path.join(os.path.dirname(__file__), "py_client.py"),
                   f"--addr={addr}", f"--threads={n}", f"--seconds={args.seconds}"]
        else:
            cmd = [os.path.join(args.build, "grpc_exp_client"), f"--addr={addr}",
                   f"--threads={n}", f"--seconds={args.seconds}"]
        client = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline().strip() == "WARM"
        idle_busy = wait_idle()
        s0 = stat(server)
        j0 = cpu_jiffies()[0]
        c0 = proc_jiffies(client.pid)
        client.stdin.write("go\n")
        client.stdin.flush()
        done = client.stdout.readline().split()
        s1 = stat(server)
        j1 = cpu_jiffies()[0]
        c1 = proc_jiffies(client.pid)
        client.wait(timeout=30)
        assert done and done[0] == "DONE", done
        calls = int(done[1])
        errors = int(done[5])
        d = [b - a for a, b in zip(s0, s1)]
        hz = os.sysconf("SC_CLK_TCK")
        window = float(done[1]) / float(done[2])
        # CPU (in cores) used by anything but our server and client during the window.
        foreign = ((j1 - j0) - (c1 - c0)) / hz / window - (d[0] + d[1]) / 1e6 / window
        return {
            "rps": float(done[2]), "p50": float(done[3]), "p99": float(done[4]),
            "cpu": (d[0] + d[1]) / calls, "usr": d[0] / calls, "sys": d[1] / calls,
            "vcsw": d[2] / calls, "ivcsw": d[3] / calls, "threads": s1[4], "errors": errors,
            "foreign": max(0.0, foreign), "client_cpu": (c1 - c0) / hz * 1e6 / calls,
        }
    finally:
        try:
            server.stdin.write("QUIT\n")
            server.stdin.flush()
            server.wait(timeout=10)
        except Exception:
            server.kill()
        try:
            os.unlink(data)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-grpc-models")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--handlers", default="empty,inline,group")
    ap.add_argument("--ns", default="1,16")
    ap.add_argument("--client", default="cpp", choices=["cpp", "py"])
    ap.add_argument("--json", default="")
    ap.add_argument("--python", default="/work/main/.venv/bin/python")
    args = ap.parse_args()
    models = args.models.split(",")
    handlers = args.handlers.split(",")
    ns = [int(x) for x in args.ns.split(",")]
    results = {}
    port = 20000  # below the ephemeral range, so no clash with TIME_WAIT sockets
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for handler in handlers:
            for n in ns:
                for model in models:
                    for _attempt in range(3):
                        port += 1
                        res = run_one(args, model, handler, n, args.client, port)
                        if res["errors"] == 0:
                            break
                    results.setdefault((model, handler, n), []).append(res)
                    print(f"# round {r} {model:8s} {handler:6s} N={n:2d} "
                          f"rps={res['rps']:8.0f} p50={res['p50']:7.1f} cpu={res['cpu']:6.1f} "
                          f"vcsw={res['vcsw']:5.2f} thr={res['threads']} err={res['errors']} "
                          f"cli={res['client_cpu']:6.1f} foreign={res['foreign']:.2f}",
                          file=sys.stderr, flush=True)
        loads.append(os.getloadavg()[0])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"|".join(map(str, k)): v for k, v in results.items()}, f, indent=1)
    print(f"client={args.client} rounds={args.rounds} seconds={args.seconds} "
          f"loadavg(1m) samples={['%.2f' % x for x in loads]}")
    print("| model | handler | N | rows/s | p50 µs | p99 µs | srv CPU µs/call (usr+sys) | vcsw/call | ivcsw/call | threads | max foreign cores |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for handler in handlers:
        for n in ns:
            for model in models:
                rs = results[(model, handler, n)]
                m = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
                print(f"| {model} | {handler} | {n} | {m['rps']:.0f} | {m['p50']:.0f} | {m['p99']:.0f} | "
                      f"{m['cpu']:.1f} ({m['usr']:.0f}+{m['sys']:.0f}) | {m['vcsw']:.2f} | "
                      f"{m['ivcsw']:.2f} | {m['threads']:.0f} | {max(x['foreign'] for x in rs):.2f} |")


if __name__ == "__main__":
    main()
