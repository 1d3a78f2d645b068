"""The only place where the persistence package touches the generated protobuf types.

Builders turn plain Python values into PersistenceService requests; readers turn responses
into what CrewAI's storages return. Everything else in fast_crewai.persistence works with
dicts, strings and numbers.
"""

from __future__ import annotations

import json
from typing import Any

from fast_crewai.v1 import persistence_pb2 as pb
from fast_crewai.v1 import persistence_pb2_grpc

__all__ = [
    "PersistenceServiceStub",
    "acquire_lock",
    "add_task_output",
    "add_task_outputs",
    "backup",
    "heartbeat",
    "lock_answer",
    "release_lock",
    "row_dict",
    "with_timestamp",
]

PersistenceServiceStub = persistence_pb2_grpc.PersistenceServiceStub


# ---- kickoff task outputs --------------------------------------------------------------------


def add_task_output(*, kickoff_id: str, namespace: str, task_id: str, task_key: str | None,
                    expected_output: str, output_json: str, task_index: int, inputs_json: str,
                    was_replayed: bool) -> pb.AddTaskOutputRequest:
    row = pb.TaskOutputRow(task_id=task_id, expected_output=expected_output,
                           output_json=output_json, task_index=task_index,
                           inputs_json=inputs_json, was_replayed=was_replayed)
    if task_key is not None:
        row.task_key = task_key
    return pb.AddTaskOutputRequest(kickoff_id=kickoff_id, namespace=namespace, row=row)


def add_task_outputs(*, kickoff_id: str, namespace: str,
                     rows: list[dict[str, Any]]) -> pb.AddTaskOutputsRequest:
    """One AddTaskOutputs request (several rows of one kickoff, one transaction). Each row:
    task_id, task_key (str or None), expected_output, output_json, task_index, inputs_json,
    was_replayed."""
    request = pb.AddTaskOutputsRequest(kickoff_id=kickoff_id, namespace=namespace)
    for r in rows:
        row = request.rows.add(task_id=r["task_id"], expected_output=r["expected_output"],
                               output_json=r["output_json"], task_index=r["task_index"],
                               inputs_json=r["inputs_json"], was_replayed=r["was_replayed"])
        if r["task_key"] is not None:
            row.task_key = r["task_key"]
    return request


def with_timestamp(request: pb.AddTaskOutputRequest,
                   timestamp: str) -> pb.AddTaskOutputRequest:
    """A copy of `request` whose row carries `timestamp` (the daemon keeps a given one)."""
    stamped = pb.AddTaskOutputRequest()
    stamped.CopyFrom(request)
    stamped.row.timestamp = timestamp
    return stamped


def update_task_output(kickoff_id: str, task_index: int,
                       fields: dict[str, Any]) -> pb.UpdateTaskOutputRequest:
    """`fields`: task_id, task_key, expected_output, output_json, inputs_json (str),
    was_replayed (bool); absent keys are kept by the daemon."""
    return pb.UpdateTaskOutputRequest(kickoff_id=kickoff_id, task_index=task_index, **fields)


def load_task_outputs(*, kickoff_id: str = "", task_id: str = "",
                      namespace: str = "") -> pb.LoadTaskOutputsRequest:
    return pb.LoadTaskOutputsRequest(kickoff_id=kickoff_id, task_id=task_id, namespace=namespace)


def delete_task_outputs(namespace: str, kickoff_id: str = "") -> pb.DeleteTaskOutputsRequest:
    return pb.DeleteTaskOutputsRequest(namespace=namespace, kickoff_id=kickoff_id)


def list_kickoffs(namespace: str = "", *, all_namespaces: bool = False,
                  limit: int = 0) -> pb.ListKickoffsRequest:
    return pb.ListKickoffsRequest(namespace=namespace, all_namespaces=all_namespaces, limit=limit)


def row_dict(row: Any) -> dict[str, Any]:
    """A daemon row as CrewAI's load() returns it: same keys in the same order, output and
    inputs decoded, was_replayed as 0/1 (SQLite's BOOLEAN), timestamp text."""
    return {
        "task_id": row.task_id,
        "task_key": row.task_key if row.HasField("task_key") else None,
        "expected_output": row.expected_output,
        "output": json.loads(row.output_json),
        "task_index": row.task_index,
        "inputs": json.loads(row.inputs_json),
        "was_replayed": 1 if row.was_replayed else 0,
        "timestamp": row.timestamp,
    }


# ---- flow state --------------------------------------------------------------------------


def save_flow_state(flow_uuid: str, method_name: str, state_json: str,
                    timestamp: str) -> pb.SaveFlowStateRequest:
    return pb.SaveFlowStateRequest(flow_uuid=flow_uuid, method_name=method_name,
                                   state_json=state_json, timestamp=timestamp)


def load_flow_state(flow_uuid: str) -> pb.LoadFlowStateRequest:
    return pb.LoadFlowStateRequest(flow_uuid=flow_uuid)


def save_pending_feedback(flow_uuid: str, method_name: str, context_json: str,
                          state_json: str, created_at: str) -> pb.SavePendingFeedbackRequest:
    return pb.SavePendingFeedbackRequest(flow_uuid=flow_uuid, method_name=method_name,
                                         context_json=context_json, state_json=state_json,
                                         created_at=created_at)


def load_pending_feedback(flow_uuid: str) -> pb.LoadPendingFeedbackRequest:
    return pb.LoadPendingFeedbackRequest(flow_uuid=flow_uuid)


def clear_pending_feedback(flow_uuid: str) -> pb.ClearPendingFeedbackRequest:
    return pb.ClearPendingFeedbackRequest(flow_uuid=flow_uuid)


# The request class of each replay-log write, by RPC (what an outage journal replays).
KICKOFF_WRITES: dict[str, type[Any]] = {
    "AddTaskOutput": pb.AddTaskOutputRequest,
    "UpdateTaskOutput": pb.UpdateTaskOutputRequest,
    "DeleteTaskOutputs": pb.DeleteTaskOutputsRequest,
}

# The request class of each flow-persistence write, by RPC (what an outage journal replays).
FLOW_WRITES: dict[str, type[Any]] = {
    "SaveFlowState": pb.SaveFlowStateRequest,
    "SavePendingFeedback": pb.SavePendingFeedbackRequest,
    "ClearPendingFeedback": pb.ClearPendingFeedbackRequest,
}


# ---- locks -------------------------------------------------------------------------------


def acquire_lock(name: str, *, wait_timeout_ms: int, lease_ms: int,
                 holder: str) -> pb.LockRequest:
    return pb.LockRequest(acquire=pb.AcquireLock(name=name, wait_timeout_ms=wait_timeout_ms,
                                                 lease_ms=lease_ms, holder=holder))


def heartbeat() -> pb.LockRequest:
    return pb.LockRequest(heartbeat=pb.LockHeartbeat())


def release_lock() -> pb.LockRequest:
    return pb.LockRequest(release=pb.ReleaseLock())


def lock_answer(response: Any) -> tuple[str, dict[str, Any]]:
    """("acquired", {"lease_ms", "waited_ms"}), ("timed_out", {"holder", "waited_ms"}),
    ("released", {}) or (other kind, {})."""
    kind = response.WhichOneof("kind") or ""
    if kind == "acquired":
        return kind, {"lease_ms": response.acquired.lease_ms,
                      "waited_ms": response.acquired.waited_ms}
    if kind == "timed_out":
        return kind, {"holder": response.timed_out.holder,
                      "waited_ms": response.timed_out.waited_ms}
    return kind, {}


# ---- legacy long-term memory -------------------------------------------------------------


def save_ltm(namespace: str, task_description: str, metadata_json: str, datetime: str,
             score: float) -> pb.SaveLongTermMemoryRequest:
    return pb.SaveLongTermMemoryRequest(namespace=namespace, task_description=task_description,
                                        metadata_json=metadata_json, datetime=datetime,
                                        score=score)


def load_ltm(namespace: str, task_description: str,
             latest_n: int) -> pb.LoadLongTermMemoryRequest:
    return pb.LoadLongTermMemoryRequest(namespace=namespace, task_description=task_description,
                                        latest_n=latest_n)


def ltm_entries(response: Any) -> list[dict[str, Any]]:
    return [{"metadata": json.loads(e.metadata_json), "datetime": e.datetime, "score": e.score}
            for e in response.entries]


def reset_ltm(namespace: str) -> pb.ResetLongTermMemoryRequest:
    return pb.ResetLongTermMemoryRequest(namespace=namespace)


# ---- administration ----------------------------------------------------------------------


def backup(dest_path: str, overwrite: bool = False) -> pb.BackupRequest:
    return pb.BackupRequest(dest_path=dest_path, overwrite=overwrite)
