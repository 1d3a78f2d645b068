"""Every RPC of every service, with random requests, against the real binary.

The methods are read from the generated descriptors, so an RPC added to proto/ is covered
without touching this file. Each request is built field by field from the message's descriptor
(nested messages, repeated fields, maps, oneofs, enums with unknown numbers) with values chosen to
reach validation edges: empty and huge strings, malformed and deeply nested JSON, NaN and
infinite floats, wrong-length vector bytes, extreme integers, paths outside and inside the data
directory. The same small pool of names comes back often, so later requests meet what earlier
ones stored (dimension mismatches, pages of real records, leases of real runs).

What must hold, for every call:
* the answer is a status a client can act on: never INTERNAL, UNKNOWN, DATA_LOSS or
  UNIMPLEMENTED, and never UNAVAILABLE (the daemon went away);
* a refusal (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, RESOURCE_EXHAUSTED,
  NOT_FOUND, ALREADY_EXISTS) says why;
and after every method: the daemon process is alive and answers; at the end, records stored
before the run in names the fuzzer never generates are unchanged, the daemon stops cleanly and
restarts on the same data directory with every one of them.

The run is deterministic: one seed per method ($FAST_CREWAI_FUZZ_SEED, default 0, mixed with the
method's name). $FAST_CREWAI_FUZZ_ROUNDS sets the requests per method (default 120).
"""

from __future__ import annotations

import math
import os
import random
import struct
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest
from google.protobuf import descriptor as _descriptor
from google.protobuf import message_factory
from google.protobuf.message import Message

from fast_crewai.v1 import cache_pb2, memory_pb2, persistence_pb2, scheduler_pb2, server_pb2

ROUNDS = int(os.environ.get("FAST_CREWAI_FUZZ_ROUNDS", "120"))
SEED = int(os.environ.get("FAST_CREWAI_FUZZ_SEED", "0"))
CALL_TIMEOUT_S = 2.0
STREAM_TIMEOUT_S = 0.3
MAX_DEPTH = 4
MAX_REQUEST_BYTES = 6 << 20  # of oversized strings in one request

# Codes that mean the daemon failed rather than refused: none may ever come back.
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS,
             grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAVAILABLE}
# Refusals that must say why.
EXPLAINED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
             grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED,
             grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS}

SENTINEL = "fuzz-sentinel"  # the generator never produces it (Generator.string removes it)
FD = _descriptor.FieldDescriptor

_NAMES = ["", "a", "b", "fuzz", "x", "default", "crew_a", "A.b", "a/b", "/", "/a", "/a/b",
          "..", "*", "%", "\x00", " ", "\t\n", "é☃😀", "a" * 129, "a" * 300]
_JSON = ["", "{", "}", "{}", "[]", "null", "true", "1", "-1", "1e999", "NaN", '"s"',
         '{"a": 1}', '{"a": [1, 2, {"b": null}]}', '{"a": NaN}', '{"a": 1,}', "[1, 2",
         '{"k": "v", "k": "w"}', "[" * 2000 + "]" * 2000, '{"a":' * 1100 + "1" + "}" * 1100,
         '"\\ud800"', '{"raw": "out", "pydantic": null, "json_dict": {"x": 1}}']
_TIMES = ["", "2026-11-28 10:00:00", "2026-11-28T10:00:00Z", "2026-11-28T10:00:00+05:00",
          "2026-13-40 99:99:99", "not-a-date", "0000-00-00 00:00:00", "9999-12-31 23:59:59",
          "1970-01-01T00:00:00"]
_INT32 = [0, 1, 2, 3, 5, 10, 100, 1000, 1001, -1, -100, 2**31 - 1, -2**31]
_INT64 = _INT32 + [60_000, 60_001, 3_600_000, 86_400_000_000, 2**62, 2**63 - 1, -2**63]
_UINT = [0, 1, 2, 10, 1000, 2**32 - 1]
_FLOATS = [0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, -1e300, math.nan, math.inf, -math.inf]


class Generator:
    """Random values for the fields of a message, by descriptor.

    Each top-level message draws a wildness: at 0 every field gets a plausible value (so that
    requests get past validation and reach the stores), at 1 every field an edge case. Ids the
    daemon handed out (`learn`) come back as plausible values, so lookups find what exists.
    """

    def __init__(self, rng: random.Random, tmp: Path, data_dir: Path,
                 known: list[str] | None = None) -> None:
        self.rng = rng
        self.wild = 0.0
        self.budget = MAX_REQUEST_BYTES
        self.known: list[str] = [] if known is None else known
        self.tmp = tmp
        self.paths = ["", "relative.db", str(tmp), str(tmp / "backup.db"),
                      str(tmp / "missing" / "backup.db"), str(tmp / "b" / ".." / "b2.db"),
                      str(data_dir), str(data_dir / "memory.db"),
                      str(data_dir / "persistence.db"), "/proc/self/x", str(tmp / ("p" * 300))]

    def message(self, cls: type[Message]) -> Message:
        self.wild = self.rng.choice([0.0, 0.0, 0.05, 0.2, 0.5, 1.0])
        self.budget = MAX_REQUEST_BYTES
        msg = cls()
        self.fill(msg, 0)
        return msg

    def learn(self, response: Message) -> None:
        """Remembers the ids in a response (run, lease, node, kickoff, record ids), except the
        sentinels' (a listing may show them; the fuzzer must not aim at them)."""
        for field, value in response.ListFields():
            items = value if field.is_repeated else [value]
            if field.type == FD.TYPE_MESSAGE:
                if not field.message_type.GetOptions().map_entry:
                    for item in items:
                        self.learn(item)
            elif field.type == FD.TYPE_STRING and field.name.endswith("id"):
                for item in items:
                    if item and SENTINEL not in item and item not in self.known:
                        self.known.append(item)
                        del self.known[:-200]  # the newest

    def _is_wild(self) -> bool:
        return self.rng.random() < self.wild

    def fill(self, msg: Message, depth: int) -> None:
        rng = self.rng
        for field in msg.DESCRIPTOR.fields:
            if rng.random() < 0.25:
                continue  # unset
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                self._map(msg, field, depth)
            elif field.is_repeated:
                self._repeated(msg, field, depth)
            elif field.type == FD.TYPE_MESSAGE:
                if depth < MAX_DEPTH:
                    self.fill(getattr(msg, field.name), depth + 1)
            else:
                setattr(msg, field.name, self.scalar(field))

    def _count(self, depth: int) -> int:
        if not self._is_wild():
            return self.rng.choice([1, 1, 2, 3])
        # Over a thousand items only at the top: a thousand of a thousand would be a request
        # of gigabytes, which tests the client library rather than the daemon.
        return self.rng.choice([0, 0, 1, 5] + ([1001, 2000] if depth == 0 else []))

    def _repeated(self, msg: Message, field: FD, depth: int) -> None:
        target = getattr(msg, field.name)
        if field.type == FD.TYPE_MESSAGE:
            if depth >= MAX_DEPTH:
                return
            for _ in range(self._count(depth)):
                self.fill(target.add(), depth + 1)
        elif field.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
            target.extend(self.vector())
        else:
            target.extend(self.scalar(field) for _ in range(self._count(depth)))

    def _map(self, msg: Message, field: FD, depth: int) -> None:
        key_field = field.message_type.fields_by_name["key"]
        value_field = field.message_type.fields_by_name["value"]
        target = getattr(msg, field.name)
        for _ in range(self._count(depth)):
            key = self.scalar(key_field)
            if value_field.type == FD.TYPE_MESSAGE:
                if depth < MAX_DEPTH:
                    self.fill(target[key], depth + 1)
            else:
                target[key] = self.scalar(value_field)

    def vector(self) -> list[float]:
        rng = self.rng
        if not self._is_wild():
            return [rng.uniform(-1, 1) for _ in range(4)]
        dim = rng.choice([0, 1, 3, 4, 8, 16])
        values = [rng.uniform(-1, 1) for _ in range(dim)]
        if values and rng.random() < 0.5:
            values[rng.randrange(dim)] = rng.choice([math.nan, math.inf, -math.inf, 3.4e38])
        return values

    def scalar(self, field: FD) -> Any:
        rng = self.rng
        kind = field.type
        wild = self._is_wild()
        if kind == FD.TYPE_STRING:
            return self.string(field.name, wild)
        if kind == FD.TYPE_BYTES:
            floats = self.vector()
            packed = struct.pack(f"<{len(floats)}f", *floats)
            if not wild:
                return packed
            return rng.choice([b"", packed[:-1], b"\x00" * 7, bytes(rng.randbytes(33))])
        if kind == FD.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == FD.TYPE_ENUM:
            numbers = [v.number for v in field.enum_type.values]
            return rng.choice(numbers + [max(numbers) + 1, 99] if wild else numbers)
        if kind in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
            return rng.choice(_FLOATS) if wild else rng.uniform(0, 1)
        if not wild:
            if field.name.endswith("micros"):
                return 1_700_000_000_000_000 + rng.randrange(10**12)
            return rng.randint(0, 10)
        if kind in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
            return rng.choice(_UINT)
        if kind in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
            return rng.choice(_UINT + [2**64 - 1])
        if kind in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
            return rng.choice(_INT32)
        return rng.choice(_INT64)

    def string(self, name: str, wild: bool) -> str:
        rng = self.rng
        if not wild:
            if name.endswith("path"):
                return str(self.tmp / f"backup-{rng.randrange(4)}.db")
            if name.endswith("json"):
                return rng.choice(['{"a": 1}', '{"raw": "out", "n": [1, 2]}', "{}"])
            if name in ("timestamp", "datetime", "created_at", "last_accessed"):
                return "2026-11-28 10:00:00"
            if "scope" in name:
                return rng.choice(["/", "/a", "/a/b", "/b"])
            if self.known and rng.random() < 0.5:
                return rng.choice(self.known)
            return rng.choice(["a", "b", "fuzz", "crew_a", "x1"])
        roll = rng.random()
        if roll < 0.03:
            size = rng.choice([70_000, 300_000, 5_000_000])
            if size <= self.budget:  # one oversized value per request, or a few smaller ones
                self.budget -= size
                return "x" * size
        if name.endswith("path"):
            return rng.choice(self.paths)
        if name.endswith("json"):
            return rng.choice(_JSON)
        if name in ("timestamp", "datetime", "created_at", "last_accessed"):
            return rng.choice(_TIMES)
        if roll < 0.75:
            return rng.choice(_NAMES)
        if roll < 0.85:
            return rng.choice(_JSON + _TIMES)
        alphabet = "ab/._:-x0 é"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))).replace(
            SENTINEL, "")


# ----- the methods -----------------------------------------------------------------------------

_MODULES = (cache_pb2, memory_pb2, persistence_pb2, scheduler_pb2, server_pb2)


def _methods() -> list[_descriptor.MethodDescriptor]:
    methods = []
    for module in _MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            methods.extend(service.methods)
    return methods


def _path(method: _descriptor.MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _classes(method: _descriptor.MethodDescriptor) -> tuple[type[Message], type[Message]]:
    return (message_factory.GetMessageClass(method.input_type),
            message_factory.GetMessageClass(method.output_type))


def _call(channel: grpc.Channel, method: _descriptor.MethodDescriptor,
          requests: list[Message]) -> tuple[grpc.StatusCode, str, list[Message]]:
    """Sends the requests (one for a unary request) and reads what comes back until the end of
    the call or its deadline; returns the call's status and the responses read."""
    request_cls, response_cls = _classes(method)
    kwargs: dict[str, Callable[..., Any]] = {
        "request_serializer": request_cls.SerializeToString,
        "response_deserializer": response_cls.FromString}
    path = _path(method)
    received: list[Message] = []
    try:
        if not method.client_streaming and not method.server_streaming:
            response, call = channel.unary_unary(path, **kwargs).with_call(
                requests[0], timeout=CALL_TIMEOUT_S)
            return call.code(), call.details() or "", [response]
        # Streams (watches, held locks, lease streams) stay open while they are valid: their
        # deadline is the normal end.
        if method.client_streaming and method.server_streaming:
            responses: Iterator[Message] = channel.stream_stream(path, **kwargs)(
                iter(requests), timeout=STREAM_TIMEOUT_S)
        elif method.server_streaming:
            responses = channel.unary_stream(path, **kwargs)(requests[0],
                                                             timeout=STREAM_TIMEOUT_S)
        else:
            response, call = channel.stream_unary(path, **kwargs).with_call(
                iter(requests), timeout=CALL_TIMEOUT_S)
            return call.code(), call.details() or "", [response]
        for response in responses:
            received.append(response)
        return grpc.StatusCode.OK, "", received
    except grpc.RpcError as error:
        return error.code(), error.details() or "", received


# ----- what the fuzzer must not touch ------------------------------------------------------------

def _store_sentinels(channel: grpc.Channel) -> None:
    memory = channel.unary_unary("/fast_crewai.v1.MemoryService/SaveRecords",
                                 request_serializer=memory_pb2.SaveRecordsRequest
                                 .SerializeToString,
                                 response_deserializer=memory_pb2.SaveRecordsResponse.FromString)
    records = [memory_pb2.MemoryRecord(
        id=f"sentinel-{i}", content=f"kept {i}", scope="/kept", categories=["c"],
        metadata_json='{"n": %d}' % i, importance=0.5, created_at_micros=1_700_000_000_000_000,
        embedding_f32=struct.pack("<4f", i, 1.0, 0.0, -1.0)) for i in range(5)]
    memory(memory_pb2.SaveRecordsRequest(namespace=SENTINEL, records=records), timeout=5)
    add = channel.unary_unary("/fast_crewai.v1.PersistenceService/AddTaskOutput",
                              request_serializer=persistence_pb2.AddTaskOutputRequest
                              .SerializeToString,
                              response_deserializer=persistence_pb2.AddTaskOutputResponse
                              .FromString)
    for i in range(3):
        add(persistence_pb2.AddTaskOutputRequest(
            kickoff_id=f"{SENTINEL}-kickoff", namespace=SENTINEL,
            row=persistence_pb2.TaskOutputRow(task_id=f"{SENTINEL}-task-{i}", task_index=i,
                                              expected_output="e", output_json='{"raw": "r"}',
                                              inputs_json="{}")), timeout=5)
    flow = channel.unary_unary("/fast_crewai.v1.PersistenceService/SaveFlowState",
                               request_serializer=persistence_pb2.SaveFlowStateRequest
                               .SerializeToString,
                               response_deserializer=persistence_pb2.SaveFlowStateResponse
                               .FromString)
    flow(persistence_pb2.SaveFlowStateRequest(flow_uuid=f"{SENTINEL}-flow", method_name="m",
                                              state_json='{"id": "s", "n": 1}'), timeout=5)
    ltm = channel.unary_unary("/fast_crewai.v1.PersistenceService/SaveLongTermMemory",
                              request_serializer=persistence_pb2.SaveLongTermMemoryRequest
                              .SerializeToString,
                              response_deserializer=persistence_pb2.SaveLongTermMemoryResponse
                              .FromString)
    ltm(persistence_pb2.SaveLongTermMemoryRequest(
        namespace=SENTINEL, task_description="kept task", metadata_json='{"quality": 1}',
        datetime="1700000000.0", score=0.5), timeout=5)


def _sentinels(channel: grpc.Channel) -> dict[str, Any]:
    """What the sentinel names hold now, in a comparable form."""
    def unary(path: str, request: Message, response_cls: type[Message]) -> Message:
        call = channel.unary_unary(path, request_serializer=type(request).SerializeToString,
                                   response_deserializer=response_cls.FromString)
        return call(request, timeout=5)

    listed = unary("/fast_crewai.v1.MemoryService/ListRecords",
                   memory_pb2.ListRecordsRequest(namespace=SENTINEL),
                   memory_pb2.ListRecordsResponse)
    rows = unary("/fast_crewai.v1.PersistenceService/LoadTaskOutputs",
                 persistence_pb2.LoadTaskOutputsRequest(kickoff_id=f"{SENTINEL}-kickoff"),
                 persistence_pb2.LoadTaskOutputsResponse)
    flow = unary("/fast_crewai.v1.PersistenceService/LoadFlowState",
                 persistence_pb2.LoadFlowStateRequest(flow_uuid=f"{SENTINEL}-flow"),
                 persistence_pb2.LoadFlowStateResponse)
    ltm = unary("/fast_crewai.v1.PersistenceService/LoadLongTermMemory",
                persistence_pb2.LoadLongTermMemoryRequest(namespace=SENTINEL,
                                                          task_description="kept task",
                                                          latest_n=10),
                persistence_pb2.LoadLongTermMemoryResponse)
    return {
        "memory": sorted((r.id, r.content, r.scope, tuple(r.categories), r.metadata_json,
                          r.embedding_f32 or struct.pack(f"<{len(r.embedding)}f", *r.embedding))
                         for r in listed.records),
        "replay log": [(r.task_id, r.task_index, r.output_json) for r in rows.rows],
        "flow": (flow.found, flow.state_json, flow.method_name),
        "long-term memory": [(e.metadata_json, e.score) for e in ltm.entries],
    }


def _answers(channel: grpc.Channel) -> bool:
    info = channel.unary_unary("/fast_crewai.v1.ServerService/GetServerInfo",
                               request_serializer=server_pb2.GetServerInfoRequest
                               .SerializeToString,
                               response_deserializer=server_pb2.GetServerInfoResponse.FromString)
    try:
        return bool(info(server_pb2.GetServerInfoRequest(), timeout=5).version)
    except grpc.RpcError:
        return False


# ----- the test -----------------------------------------------------------------------------------

def test_random_requests_to_every_rpc_get_a_status_and_lose_nothing(
        daemon_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    daemon = daemon_factory()
    channel = daemon.channel(options=[("grpc.max_send_message_length", 64 << 20)])
    _store_sentinels(channel)
    before = _sentinels(channel)
    assert len(before["memory"]) == 5 and len(before["replay log"]) == 3, before
    assert before["flow"][0] and before["long-term memory"], before

    failures: list[str] = []
    codes: dict[str, set[str]] = {}
    known: list[str] = []  # ids the daemon gave out, shared: GetRun meets CreateRun's runs
    for method in _methods():
        rng = random.Random(f"{SEED}:{_path(method)}")
        generator = Generator(rng, tmp_path, daemon.data_dir, known)
        request_cls, _ = _classes(method)
        seen = codes.setdefault(_path(method), set())
        started = time.monotonic()
        # A valid stream runs to its deadline: fewer rounds keep the run short.
        rounds = ROUNDS // 3 if method.server_streaming else ROUNDS
        for round_ in range(rounds):
            count = rng.choice([1, 1, 2, 3]) if method.client_streaming else 1
            requests = [generator.message(request_cls) for _ in range(count)]
            code, details, responses = _call(channel, method, requests)
            seen.add(code.name)
            for response in responses:
                generator.learn(response)
            if code in FORBIDDEN or (code in EXPLAINED and not details.strip()):
                shown = " | ".join(str(r)[:400].replace("\n", " ") for r in requests)
                failures.append(f"{_path(method)} round {round_}: {code.name} {details!r} "
                                f"for {shown}")
                if code == grpc.StatusCode.UNAVAILABLE:
                    break
        assert daemon.process.poll() is None, (
            f"the daemon exited ({daemon.process.returncode}) during {_path(method)}:\n"
            + "\n".join(failures[-5:]) + "\n" + daemon.logs()[-4000:])
        assert _answers(channel), f"the daemon stopped answering after {_path(method)}"
        print(f"{_path(method)}: {time.monotonic() - started:.1f} s, {sorted(seen)}")
        if len(failures) > 20:
            break

    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:20])
    # Every method was reached with requests it accepted or refused (not only deadlines).
    only_timeouts = [p for p, s in codes.items() if s <= {"DEADLINE_EXCEEDED", "CANCELLED"}]
    assert not only_timeouts, only_timeouts

    assert _sentinels(channel) == before
    assert daemon.stop() == 0, daemon.logs()[-4000:]
    restarted = daemon_factory(f"--data_dir={daemon.data_dir}")
    assert _sentinels(restarted.channel()) == before


@pytest.mark.parametrize("seed", [1, 2])
def test_the_generator_is_deterministic(seed: int, tmp_path: Path) -> None:
    def draw() -> list[bytes]:
        rng = random.Random(seed)
        generator = Generator(rng, tmp_path, tmp_path / "data")
        return [generator.message(memory_pb2.SaveRecordsRequest).SerializeToString()
                for _ in range(20)]

    first = draw()
    assert first == draw()
    assert len(set(first)) > 10  # and it varies
