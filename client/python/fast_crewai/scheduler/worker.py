"""The `fast-crewai worker` loop: lease kickoff inputs, run them, complete or fail them.

A Worker runs `concurrency` slot threads; each long-polls LeaseNodes on the queue for one
node and runs the lease's `factory().kickoff(inputs=...)` itself (no hand-off, so a warm
worker starts an input as soon as the daemon answers),
and ends the lease with CompleteNode (the CrewOutput as JSON, fanout.crew_output_to_json) or
FailNode (the error; retryable when the caller asked for it). A heartbeat thread renews the
held leases once any of them is a third of its length old (a new lease wakes it); a lease the
daemon reports lost is never completed (another worker has the input, or the run was
cancelled). When the daemon is unreachable the worker keeps retrying; results of leases that
lapsed meanwhile are refused by the daemon and dropped here.

Stops after `max_tasks` leases (when set) once they are finished, or after `idle_exit`
seconds without work (when set), or when `stop()` is called.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from fast_crewai import errors
from fast_crewai.scheduler import fanout
from fast_crewai.scheduler.remote import SchedulerClient
from fast_crewai.scheduler.types import Lease

__all__ = ["Worker", "WorkerStats", "default_worker_id"]

_log = logging.getLogger(__name__)

# Long-poll length of one LeaseNodes call.
POLL_WAIT_S = 2.0
# Pause after a failed call before trying again.
RETRY_PAUSE_S = 0.5
MAX_ERROR_TEXT = 4000
# How often the heartbeat thread looks again while no lease is held (a new lease wakes it).
IDLE_HEARTBEAT_S = 1.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerStats:
    leased: int = 0
    completed: int = 0
    failed: int = 0
    lost: int = 0


class Worker:
    """Runs leased kickoff inputs. `run()` blocks; `stop()` may be called from any thread."""

    def __init__(self, client: SchedulerClient | None = None, *, queue: str = "default",
                 concurrency: int = 1, worker_id: str | None = None,
                 max_tasks: int | None = None, idle_exit: float | None = None,
                 poll_wait: float = POLL_WAIT_S,
                 log: Callable[[str], None] | None = None) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency: must be at least 1, got {concurrency}")
        if max_tasks is not None and max_tasks < 1:
            raise ValueError(f"max_tasks: must be at least 1, got {max_tasks}")
        self.client = client or SchedulerClient()
        self.queue = queue
        self.concurrency = concurrency
        self.worker_id = worker_id or default_worker_id()
        self.max_tasks = max_tasks
        self.idle_exit = idle_exit
        self.poll_wait = poll_wait
        self.stats = WorkerStats()
        self._log = log or (lambda message: _log.info("%s", message))
        self._lock = threading.Condition()
        self._held: dict[str, Lease] = {}  # guarded by _lock
        self._lost: set[str] = set()  # guarded by _lock
        self._last_finish = time.monotonic()  # last lease or result; guarded by _lock
        self._reserved = 0  # leases taken or being asked for; guarded by _lock
        self.failure: errors.FastCrewAIError | None = None  # why the daemon refused us
        self._stopping = threading.Event()
        self._heartbeat_stop = threading.Event()  # set once every lease is ended
        self._factories: dict[str, Callable[[], Any]] = {}
        self._factories_lock = threading.Lock()
        # The first kickoff in this process runs alone: CrewAI sets up process-wide state lazily
        # on a first kickoff (event listeners, imports), which concurrent first kickoffs race on
        # whichever factory built their crews.
        self._warm = threading.Event()
        self._first_run_lock = threading.Lock()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()

    # ---- main loop ----------------------------------------------------------------------------

    def run(self) -> WorkerStats:
        heartbeat = threading.Thread(target=self._heartbeat, name="fast-crewai-heartbeat",
                                     daemon=True)
        heartbeat.start()
        slots = [threading.Thread(target=self._slot, name=f"fast-crewai-worker-{i}",
                                  daemon=True) for i in range(self.concurrency)]
        for slot in slots:
            slot.start()
        try:
            for slot in slots:
                while slot.is_alive():  # short joins keep the main thread's signals responsive
                    slot.join(0.2)
        finally:
            self._stopping.set()
            for slot in slots:
                slot.join()
            self._heartbeat_stop.set()
            with self._lock:
                self._lock.notify_all()
            heartbeat.join(timeout=5)
        return self.stats

    def _slot(self) -> None:
        """One of `concurrency` slots: long-polls for one input and runs it in this thread
        (no hand-off between the lease and the kickoff)."""
        while not self._stopping.is_set():
            with self._lock:
                if self.max_tasks is not None and self._reserved >= self.max_tasks:
                    return
                wait = self.poll_wait
                if self.idle_exit is not None and not self._held:
                    idle = time.monotonic() - self._last_finish
                    if idle >= self.idle_exit:
                        if not self._stopping.is_set():
                            self._log(f"idle for {idle:.1f}s, exiting")
                        self._stopping.set()
                        return
                    wait = min(wait, self.idle_exit - idle)
                self._reserved += 1
            try:
                leases = self.client.lease_nodes(self.worker_id, queue=self.queue, max_nodes=1,
                                                 wait=max(wait, 0.0))
            except errors.DaemonUnavailable as e:
                leases = []
                self._log(f"daemon unavailable ({e}); retrying")
                self._stopping.wait(RETRY_PAUSE_S)
            except errors.FastCrewAIError as e:
                self._log(f"the daemon refused the lease: {e}")
                with self._lock:
                    self._reserved -= 1
                self.failure = e
                self._stopping.set()
                return
            if not leases:
                with self._lock:
                    self._reserved -= 1
                continue
            for lease in leases:
                with self._lock:
                    self._held[lease.lease_id] = lease
                    self.stats.leased += 1
                    self._last_finish = time.monotonic()
                    self._lock.notify_all()  # the heartbeat times this lease's renewals
                self._execute(lease)

    # ---- one lease ----------------------------------------------------------------------------

    def _factory(self, reference: str) -> Callable[[], Any]:
        with self._factories_lock:
            factory = self._factories.get(reference)
            if factory is None:
                factory = fanout.resolve_factory(reference)
                self._factories[reference] = factory
            return factory

    def _execute(self, lease: Lease) -> None:
        retryable = False
        try:
            try:
                payload = json.loads(lease.payload)
                reference = payload["factory"]
                inputs = payload.get("inputs") or {}
                retryable = bool(payload.get("retry_on_error", False))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"node {lease.node_id}: not a kickoff payload: {e}") from e
            self._log(f"run {lease.run_id} node {lease.node_id} attempt {lease.attempt}: start")
            output = self._kickoff(reference, inputs)
            data = fanout.crew_output_to_json(output)
        except BaseException as e:  # noqa: BLE001 - reported to the daemon
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            frames = traceback.extract_tb(e.__traceback__)
            where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" \
                if frames else ""
            text = f"{type(e).__name__}: {e}{where}"
            self._log(f"node {lease.node_id}: kickoff raised:\n"
                      + "".join(traceback.format_exception(e)).rstrip())
            self._finish(lease, error=text[:MAX_ERROR_TEXT], retryable=retryable)
            return
        self._finish(lease, output=data)

    def _kickoff(self, reference: str, inputs: dict[str, Any]) -> Any:
        factory = self._factory(reference)
        if not self._warm.is_set():
            with self._first_run_lock:
                if not self._warm.is_set():
                    try:
                        return factory().kickoff(inputs=inputs)
                    finally:
                        self._warm.set()
        return factory().kickoff(inputs=inputs)

    def _finish(self, lease: Lease, *, output: bytes | None = None, error: str = "",
                retryable: bool = False) -> None:
        with self._lock:
            lost = lease.lease_id in self._lost
        try:
            if lost:
                self.stats.lost += 1
                self._log(f"node {lease.node_id}: lease lost, result dropped")
            elif output is not None:
                self._call_until_answered(self.client.complete_node, lease.lease_id, output)
                self.stats.completed += 1
                self._log(f"run {lease.run_id} node {lease.node_id}: done")
            else:
                self._call_until_answered(self.client.fail_node, lease.lease_id, error,
                                          retryable=retryable)
                self.stats.failed += 1
                self._log(f"run {lease.run_id} node {lease.node_id}: failed: {error}")
        except errors.FailedPrecondition as e:
            self.stats.lost += 1
            self._log(f"node {lease.node_id}: result refused ({e})")
        except errors.ResourceExhausted as e:
            if output is None:  # an error text over a small scheduler_max_payload_bytes
                self._log(f"node {lease.node_id}: cannot report the result: {e}")
                return
            # An output over scheduler_max_payload_bytes (RESOURCE_EXHAUSTED, the lease stays
            # held): the input fails, clearly, instead of lapsing and running again.
            self._finish(lease, error=f"output refused by the daemon: {e}"[:MAX_ERROR_TEXT])
            return
        except errors.FastCrewAIError as e:
            self._log(f"node {lease.node_id}: cannot report the result: {e}")
        finally:
            with self._lock:
                if output is not None or error:
                    self._held.pop(lease.lease_id, None)
                    self._lost.discard(lease.lease_id)
                self._last_finish = time.monotonic()
                self._lock.notify_all()

    def _call_until_answered(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Retries while the daemon is unreachable and the lease may still be held."""
        deadline = time.monotonic() + 60.0
        while True:
            try:
                return method(*args, **kwargs)
            except errors.DaemonUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(RETRY_PAUSE_S)

    # ---- heartbeat ----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        """Renews every held lease once any of them is a third of its length old. A slot that
        takes a lease wakes this thread, so a short lease granted during a long wait is still
        renewed within a third of its length (not after the wait sized for the older leases)."""
        due: dict[str, float] = {}  # lease id -> when it needs renewing; this thread only
        while not self._heartbeat_stop.is_set():
            with self._lock:
                held = dict(self._held)
            now = time.monotonic()
            for lease_id in due.keys() - held.keys():
                del due[lease_id]
            for lease_id, lease in held.items():
                due.setdefault(lease_id, now + _renew_interval(lease))
            if held and min(due.values()) <= now:
                try:
                    lost = self.client.renew_leases(self.worker_id, held.keys())
                except errors.FastCrewAIError as e:
                    _log.debug("fast-crewai worker: renew failed: %s", e)
                    lost = []
                renewed = time.monotonic()
                for lease_id, lease in held.items():
                    due[lease_id] = renewed + _renew_interval(lease)
                if lost:
                    with self._lock:
                        self._lost.update(lost)
                    self._log(f"leases lost: {', '.join(lost)}")
            wait = max(min(due.values(), default=now + IDLE_HEARTBEAT_S) - time.monotonic(), 0.0)
            with self._lock:
                self._lock.wait_for(
                    lambda: self._heartbeat_stop.is_set() or bool(self._held.keys() - due.keys()),
                    timeout=wait)


def _renew_interval(lease: Lease) -> float:
    """A third of the lease (at least 10 ms), in seconds."""
    return max(lease.lease_millis, 30) / 3000.0
