"""The `fast-crewai worker` loop: lease kickoff inputs, run them, complete or fail them.

A Worker runs `concurrency` slot threads; each holds a StreamLeases stream with one credit
(one input at a time) and runs each lease's `factory().kickoff(inputs=...)` itself (no
hand-off, so a warm worker starts an input as soon as the daemon pushes it), then grants the
next credit. A daemon without StreamLeases (UNIMPLEMENTED) is served by long-polling
LeaseNodes instead. A slot ends the lease with CompleteNode (the CrewOutput as JSON,
fanout.crew_output_to_json) or FailNode (the error; retryable when the caller asked for it).
A heartbeat thread renews the held leases once any of them is a third of its length old (a
slot wakes it only for a lease due before its next wake-up); a lease the daemon reports lost
is never completed (another worker has the input, or the run was cancelled). If this process
dies its streams break and the daemon puts their leases back at once. When the daemon is
unreachable the worker keeps retrying; results of leases that lapsed meanwhile are refused by
the daemon and dropped here.

Stops after `max_tasks` leases (when set) once they are finished, or after `idle_exit`
seconds without work (when set), or when `stop()` is called. After an idle exit,
`idle_exited` is True and `unreachable` tells whether the daemon was unreachable at the end
(the error of the last lease call, None once the daemon had answered it), so that the caller
can tell "no work" from "no daemon".
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
from fast_crewai.scheduler.remote import LeaseStream, SchedulerClient
from fast_crewai.scheduler.types import Lease

__all__ = ["Worker", "WorkerStats", "default_worker_id"]

_log = logging.getLogger(__name__)

# Long-poll length of one LeaseNodes call.
POLL_WAIT_S = 2.0
# Pause after a failed call before trying again.
RETRY_PAUSE_S = 0.5
# The `fast-crewai-reason` of a request refused by a size limit: repeating it cannot help.
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
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
        self._taken: dict[str, float] = {}  # lease id -> when it was taken; guarded by _lock
        self._lost: set[str] = set()  # guarded by _lock
        self._last_finish = time.monotonic()  # last lease or result; guarded by _lock
        self._reserved = 0  # leases taken or being asked for; guarded by _lock
        self._streams: set[LeaseStream] = set()  # open lease streams; guarded by _lock
        self._heartbeat_wake = 0.0  # when the heartbeat looks again; guarded by _lock
        # False once the daemon answered StreamLeases with UNIMPLEMENTED: long-poll instead.
        self.use_stream = True
        self.failure: errors.FastCrewAIError | None = None  # why the daemon refused us
        # The last lease call's error when it failed as unavailable; None once one was answered.
        self.unreachable: errors.DaemonUnavailable | None = None
        self.idle_exited = False  # stopped by idle_exit
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
            streams = list(self._streams)
            self._lock.notify_all()
        for stream in streams:  # the leases on their way still arrive and run
            stream.close()

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
            self.stop()  # closes the lease streams: their slots drain and return
            for slot in slots:
                slot.join()
            self._heartbeat_stop.set()
            with self._lock:
                self._lock.notify_all()
            heartbeat.join(timeout=5)
        return self.stats

    def _slot(self) -> None:
        """One of `concurrency` slots: takes one input at a time and runs it in this thread
        (no hand-off between the lease and the kickoff)."""
        if self.use_stream:
            self._stream_slot()
        if not self.use_stream:
            self._poll_slot()

    def _reserve(self) -> bool:
        """Reserves one more lease; False when max_tasks are reserved already."""
        with self._lock:
            if self.max_tasks is not None and self._reserved >= self.max_tasks:
                return False
            self._reserved += 1
            return True

    def _unreserve(self) -> None:
        with self._lock:
            self._reserved -= 1

    def _idle_exit_locked(self) -> float | None:
        """Seconds until idle_exit is due (<= 0: due now, and _stopping is set; None: no
        idle_exit, leases are held, or the worker is stopping already)."""
        if self.idle_exit is None or self._held or self._stopping.is_set():
            return None
        idle = time.monotonic() - self._last_finish
        if idle >= self.idle_exit:
            self._log(f"idle for {idle:.1f}s, exiting")
            self.idle_exited = True
            self._stopping.set()
        return self.idle_exit - idle

    def _stream_slot(self) -> None:
        """Runs the leases pushed on this slot's StreamLeases stream, one credit at a time.
        Returns when the worker stops, or with use_stream False when the daemon has no
        StreamLeases."""
        while not self._stopping.is_set():
            if not self._reserve():
                return
            asked = True  # a credit is outstanding, its reservation not yet a lease
            try:
                stream = self.client.stream_leases(self.worker_id, queue=self.queue, credits=1)
            except errors.FastCrewAIError as e:  # the connection is closed
                self._unreserve()
                self._log(f"cannot open a lease stream: {e}")
                self.failure = e
                self.stop()
                return
            with self._lock:
                self._streams.add(stream)
            if self._stopping.is_set():
                stream.close()
            try:
                while True:
                    try:
                        leases = stream.next()
                    except StopIteration:
                        self.unreachable = None  # the daemon ended the stream: it answered
                        break  # closed by stop() or below: every lease sent has arrived
                    self.unreachable = None
                    for lease in leases:
                        asked = False
                        self._run_lease(lease)
                    if not asked:
                        if not self._stopping.is_set() and self._reserve():
                            asked = True
                            stream.grant(1)
                        else:
                            stream.close()
            except errors.Unimplemented:
                if self.use_stream:  # one line, not one per slot (a race may print two)
                    self.use_stream = False
                    self._log("the daemon has no StreamLeases; long-polling LeaseNodes")
                return
            except errors.DaemonUnavailable as e:
                self.unreachable = e
                self._log(f"daemon unavailable ({e}); retrying")
                self._stopping.wait(RETRY_PAUSE_S)
            except errors.FastCrewAIError as e:
                self._log(f"the daemon refused the lease stream: {e}")
                self.failure = e
                self.stop()
                return
            finally:
                with self._lock:
                    self._streams.discard(stream)
                if asked:
                    self._unreserve()
                stream.cancel()  # a no-op on a stream that ended

    def _poll_slot(self) -> None:
        """Long-polls LeaseNodes for one input at a time (a daemon without StreamLeases)."""
        while not self._stopping.is_set():
            with self._lock:
                if self.max_tasks is not None and self._reserved >= self.max_tasks:
                    return
                wait = self.poll_wait
                left = self._idle_exit_locked()
                if self._stopping.is_set():
                    return
                if left is not None:
                    wait = min(wait, left)
                self._reserved += 1
            try:
                leases = self.client.lease_nodes(self.worker_id, queue=self.queue, max_nodes=1,
                                                 wait=max(wait, 0.0))
                self.unreachable = None
            except errors.DaemonUnavailable as e:
                leases = []
                self.unreachable = e
                self._log(f"daemon unavailable ({e}); retrying")
                self._stopping.wait(RETRY_PAUSE_S)
            except errors.FastCrewAIError as e:
                self._log(f"the daemon refused the lease: {e}")
                with self._lock:
                    self._reserved -= 1
                self.failure = e
                self.stop()
                return
            if not leases:
                with self._lock:
                    self._reserved -= 1
                continue
            for lease in leases:
                self._run_lease(lease)

    # ---- one lease ----------------------------------------------------------------------------

    def _run_lease(self, lease: Lease) -> None:
        now = time.monotonic()
        with self._lock:
            self._held[lease.lease_id] = lease
            self._taken[lease.lease_id] = now
            self.stats.leased += 1
            self._last_finish = now
            # The heartbeat times this lease's renewals; wake it only when the lease is due
            # before it looks again anyway (a short lease taken during a long sleep).
            if now + _renew_interval(lease) < self._heartbeat_wake:
                self._lock.notify_all()
        self._execute(lease)

    def _factory(self, reference: str) -> Callable[[], Any]:
        factory = self._factories.get(reference)  # a dict read is atomic: no lock once known
        if factory is None:
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
            if output is None or e.reason != PAYLOAD_TOO_LARGE:
                # An error text over a small scheduler_max_payload_bytes, or the daemon still
                # short of memory after the retries: the lease lapses, the input runs again.
                self._log(f"node {lease.node_id}: cannot report the result: {e}")
                return
            # An output over scheduler_max_payload_bytes (the lease stays held): the input
            # fails, clearly, instead of lapsing and running again.
            self._finish(lease, error=f"output refused by the daemon: {e}"[:MAX_ERROR_TEXT])
            return
        except errors.FastCrewAIError as e:
            self._log(f"node {lease.node_id}: cannot report the result: {e}")
        finally:
            with self._lock:
                if output is not None or error:
                    self._held.pop(lease.lease_id, None)
                    self._taken.pop(lease.lease_id, None)
                    self._lost.discard(lease.lease_id)
                self._last_finish = time.monotonic()

    def _call_until_answered(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Retries while the daemon is unreachable or short of memory (RESOURCE_EXHAUSTED
        without PAYLOAD_TOO_LARGE: the same call may pass later, and a repeat of a call that
        did pass gets its answer) and the lease may still be held."""
        deadline = time.monotonic() + 60.0
        while True:
            try:
                return method(*args, **kwargs)
            except (errors.DaemonUnavailable, errors.ResourceExhausted) as e:
                if (isinstance(e, errors.ResourceExhausted) and e.reason == PAYLOAD_TOO_LARGE
                        or time.monotonic() > deadline):
                    raise
                time.sleep(RETRY_PAUSE_S)

    # ---- heartbeat ----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        """Renews every held lease once any of them is a third of its length old, counted from
        when it was taken. A slot that takes a lease due before this thread's next look wakes
        it, so a short lease granted during a long wait is still renewed in time. Also stops
        the worker after idle_exit seconds without work."""
        due: dict[str, float] = {}  # lease id -> when it needs renewing; this thread only
        while not self._heartbeat_stop.is_set():
            with self._lock:
                held = dict(self._held)
                taken = dict(self._taken)
                idle_left = self._idle_exit_locked()
            if idle_left is not None and idle_left <= 0:
                self.stop()
            now = time.monotonic()
            for lease_id in due.keys() - held.keys():
                del due[lease_id]
            for lease_id, lease in held.items():
                due.setdefault(lease_id, taken.get(lease_id, now) + _renew_interval(lease))
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
            wake = min(due.values(), default=now + IDLE_HEARTBEAT_S)
            if idle_left is not None and idle_left > 0:
                wake = min(wake, now + idle_left)
            with self._lock:
                self._heartbeat_wake = wake
                self._lock.wait_for(
                    lambda: self._heartbeat_stop.is_set() or bool(self._held.keys() - due.keys()),
                    timeout=max(wake - time.monotonic(), 0.0))


def _renew_interval(lease: Lease) -> float:
    """A third of the lease (at least 10 ms), in seconds."""
    return max(lease.lease_millis, 30) / 3000.0
