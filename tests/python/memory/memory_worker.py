"""Subprocess side of the multi-process memory tests: `python memory_worker.py <mode> ...`.

Modes:
* `serve <store path>`: a DaemonStorage at the path, driven by JSON commands on stdin, one reply
  line on stdout per command ({"op": "save"|"get"|"search"|"count"|"burst"|"exit", ...}).
* `crew`: runs a Crew(memory=True) with FakeLLM and the hash embedder through `fast_crewai.shim`
  and prints a JSON summary.
* `inspect <content>`: a fresh Memory(storage="lancedb") through the shim; prints what it
  sees, searching for the embedding of <content>.
* `journal <store path>`: saves while the daemon is down, then exits without replaying.

The FAST_CREWAI_* and CREWAI_STORAGE_DIR variables come from the parent test.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # memory_fakes
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # fakes, support


def _reply(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _enable_shim_with_memory() -> None:
    # Until the registry line for the memory patcher lands, register it here (a no-op after).
    from fast_crewai import patches

    entry = {s.key: s for s in patches.registered()}.get(("memory", "memory_storage"))
    if entry is None or entry.patcher is None:
        patches.register(patches.PatcherSpec(
            "memory", "memory_storage", "fast_crewai.patches.memory:MemoryPatcher"))
    import fast_crewai.shim  # noqa: F401


def serve(path: str) -> None:
    from crewai.memory.types import MemoryRecord

    from fast_crewai.memory.daemon_storage import DaemonStorage

    storage = DaemonStorage(path=path, require_daemon=True)
    _reply({"ready": os.getpid()})
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "save":
            r = MemoryRecord(content=cmd["content"], scope=cmd.get("scope", "/"),
                             embedding=cmd["vec"])
            storage.save([r])
            _reply({"id": r.id})
        elif op == "get":
            r = storage.get_record(cmd["id"])
            _reply({"content": r.content if r else None})
        elif op == "search":
            found = storage.search(cmd["vec"], scope_prefix=cmd.get("scope"), limit=cmd["limit"])
            _reply({"ids": [r.id for r, _ in found]})
        elif op == "count":
            _reply({"n": storage.count(cmd.get("scope"))})
        elif op == "burst":
            # n saves, each immediately found by this process's next search.
            tag, n, misses = cmd["tag"], cmd["n"], 0
            for i in range(n):
                vec = [float(tag), float(i), 1.0, 0.5]
                r = MemoryRecord(content=f"{tag}-{i}", scope=f"/w/{tag}", embedding=vec)
                storage.save([r])
                found = storage.search(vec, scope_prefix=f"/w/{tag}", limit=1)
                if not found or found[0][0].id != r.id:
                    misses += 1
            _reply({"misses": misses, "seen_total": storage.count("/w")})
        elif op == "exit":
            _reply({"bye": True})
            return


def crew() -> None:
    _enable_shim_with_memory()
    from crewai import Agent, Crew, Task
    from memory_fakes import FakeLLM, HashEmbeddingFunction

    from fast_crewai.memory.daemon_storage import DaemonStorage

    llm = FakeLLM(model="fake")
    agent = Agent(role="Researcher", goal="Find facts about rivers",
                  backstory="A careful geographer.", llm=llm)
    task = Task(description="Tell me about the Loire river in France.",
                expected_output="A short fact.", agent=agent)
    c = Crew(agents=[agent], tasks=[task], memory=True, name="e2e crew",
             embedder={"provider": "custom",
                       "config": {"embedding_callable": HashEmbeddingFunction}})
    storage = c._memory._storage
    result = c.kickoff()
    _reply({
        "daemon_backed": isinstance(storage, DaemonStorage),
        "namespace": getattr(storage, "namespace", None),
        "output": result.raw,
        "records": [[r.scope, r.content] for r in storage.list_records()],
    })


def inspect(content: str) -> None:
    _enable_shim_with_memory()
    from crewai.memory.unified_memory import Memory
    from memory_fakes import FakeLLM, embed

    from fast_crewai.memory.daemon_storage import DaemonStorage

    memory = Memory(storage="lancedb", llm=FakeLLM(model="fake"), embedder=embed)
    storage = memory._storage
    found = storage.search(embed([content])[0], scope_prefix="/crew/e2e-crew", limit=3)
    _reply({
        "daemon_backed": isinstance(storage, DaemonStorage),
        "namespace": getattr(storage, "namespace", None),
        "count": storage.count("/crew/e2e-crew"),
        "scopes": storage.list_scopes("/crew/e2e-crew/agent"),
        "top": [r.content for r, _ in found],
        "top_score": found[0][1] if found else None,
        "has_embeddings": all(r.embedding for r, _ in found),
    })


def journal(path: str) -> None:
    from crewai.memory.types import MemoryRecord

    from fast_crewai.memory.daemon_storage import DaemonStorage

    storage = DaemonStorage(path=path)  # the daemon is down: outage mode from the start
    ids = []
    for i in range(3):
        r = MemoryRecord(content=f"orphan-{i}", scope="/orphan", embedding=[1.0, float(i), 0, 0])
        storage.save([r])
        ids.append(r.id)
    _reply({"ids": ids, "degraded": storage.degraded})
    os._exit(0)  # no atexit flush: the journal is left behind as an orphan


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "serve":
        serve(sys.argv[2])
    elif mode == "crew":
        crew()
    elif mode == "inspect":
        inspect(sys.argv[2])
    elif mode == "journal":
        journal(sys.argv[2])
    else:
        raise SystemExit(f"unknown mode {mode}")
