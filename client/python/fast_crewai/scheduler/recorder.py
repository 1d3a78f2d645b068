"""Records a DAG-mode kickoff as a run in the daemon, so `fast-crewai runs` shows it.

Off the critical path: `RunRecorder.hook(event, index)` only puts the event on a queue; one
background thread makes the calls (CreateRun with the task graph on a private queue, then for
each event LeaseNodes / CompleteNode / FailNode in the order the events happened, and
CancelRun for tasks that never ran). The first failure (daemon unreachable, a refused call)
stops the recording and nothing else; the kickoff never waits for it. The thread is not a
daemon thread so that a short script's run is finished before the interpreter exits; every
call has a short deadline.

The daemon's graph is the DAG's own (same edges), so a node is ready in the daemon exactly
when its task may start here. Leases last an hour (`LEASE_S`); a task that runs longer leaves
its node to lapse and the recording stops.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import uuid
from typing import Any, Sequence

from fast_crewai import errors
from fast_crewai.scheduler.dag import TaskGraph
from fast_crewai.scheduler.remote import SchedulerClient
from fast_crewai.scheduler.types import NodeSpec

__all__ = ["RunRecorder", "node_id"]

_log = logging.getLogger(__name__)

LEASE_S = 3600.0
CALL_TIMEOUT_S = 2.0


def node_id(index: int) -> str:
    return f"task-{index:03d}"


class RunRecorder:
    """One DAG kickoff's recording. `hook` and `close` are called by the coordinator."""

    def __init__(self, crew: Any, tasks: Sequence[Any], graph: TaskGraph,
                 client: SchedulerClient | None = None) -> None:
        self._client = client or SchedulerClient()
        self._events: queue.SimpleQueue[tuple[str, int, str] | None] = queue.SimpleQueue()
        self._queue = f"dag-{uuid.uuid4().hex}"
        self._worker = f"{socket.gethostname()}:{os.getpid()}"
        name = getattr(crew, "name", None) or "crew"
        self._nodes = [
            NodeSpec(node_id(i), tuple(node_id(d) for d in sorted(graph.deps[i])),
                     json.dumps({"index": i, "agent": getattr(t.agent, "role", ""),
                                 "description": (t.description or "")[:200]}).encode("utf-8"))
            for i, t in enumerate(tasks)]
        self._name = f"dag {name}"[:256]
        self.run_id: str | None = None
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fast-crewai-dag-recorder")
        self._thread.start()

    def hook(self, event: str, index: int, error: str = "") -> None:
        self._events.put((event, index, error))

    def close(self) -> None:
        self._events.put(None)

    def _loop(self) -> None:
        try:
            self._record()
        except errors.FastCrewAIError as e:
            _log.debug("fast-crewai: DAG run not recorded: %s", e)
        except Exception:  # noqa: BLE001 - recording never disturbs the kickoff
            _log.debug("fast-crewai: DAG run recorder failed", exc_info=True)
        finally:
            while True:  # drain what is left
                try:
                    if self._events.get_nowait() is None:
                        break
                except queue.Empty:
                    break
            self.finished.set()

    def _record(self) -> None:
        client = self._client
        if not client.available():
            return
        run = client.create_run(self._nodes, queue=self._queue, name=self._name,
                                lease_seconds=LEASE_S, max_attempts=1,
                                labels={"kind": "dag", "tasks": str(len(self._nodes))},
                                timeout=CALL_TIMEOUT_S)
        self.run_id = run.run_id
        leases: dict[int, str] = {}
        ended: set[int] = set()

        def lease_ready() -> None:
            for lease in client.lease_nodes(self._worker, queue=self._queue, max_nodes=1000):
                leases[int(lease.node_id.split("-")[1])] = lease.lease_id

        while True:
            item = self._events.get()
            if item is None:
                break
            event, index, error = item
            if index not in leases:
                lease_ready()
            lease = leases.get(index)
            if lease is None:
                raise errors.FailedPrecondition(f"{node_id(index)} is not ready in the daemon")
            if event == "finish":
                client.complete_node(lease, b"", timeout=CALL_TIMEOUT_S)
                ended.add(index)
            elif event == "fail":
                client.fail_node(lease, error or "failed", timeout=CALL_TIMEOUT_S)
                ended.add(index)
        if len(ended) < len(self._nodes):
            client.cancel_run(run.run_id, "the kickoff ended before this task ran",
                              timeout=CALL_TIMEOUT_S)
