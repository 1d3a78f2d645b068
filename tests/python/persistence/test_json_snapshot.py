"""JsonSnapshot (fast_crewai/persistence/json_snapshot.py): what load() hands out per row."""

from __future__ import annotations

import json
from typing import Any, Iterator

from fast_crewai.persistence.json_snapshot import JsonSnapshot


def _row() -> dict[str, Any]:
    # The shape of a replay-log row: flat strings, decoded output with nested lists of dicts.
    return json.loads(json.dumps({
        "task_id": "t1", "task_key": None, "expected_output": "e",
        "output": {"raw": "r", "pydantic": None, "score": 1.5, "ok": True,
                   "messages": [{"role": "user", "content": "c"}, {"role": "assistant"}],
                   "matrix": [[1, 2], [3, {"deep": [4]}]], "empty": {}, "none": []},
        "task_index": 0, "inputs": {"topic": "walrus"}, "was_replayed": 0,
        "timestamp": "2026-11-26 00:00:00",
    }))


def _containers(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _containers(item)
    elif isinstance(value, list):
        yield value
        for item in value:
            yield from _containers(item)


def test_copies_are_equal_and_share_no_container() -> None:
    source = _row()
    snapshot = JsonSnapshot(source)
    first, second = snapshot.copy(), snapshot.copy()
    assert first == source and second == source
    ids = [{id(c) for c in _containers(v)} for v in (source, first, second)]
    assert len(ids[0]) == 13
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_changing_a_copy_or_the_source_changes_no_later_copy() -> None:
    source = _row()
    snapshot = JsonSnapshot(source)
    copy = snapshot.copy()
    copy["output"]["messages"][0]["content"] = "changed"
    copy["output"]["messages"].append({"role": "x"})
    copy["output"]["matrix"][1][1]["deep"].append(5)
    copy["inputs"]["topic"] = "changed"
    copy["output"]["empty"]["k"] = 1
    copy["output"]["none"].append(1)
    del copy["task_id"]
    source["output"]["raw"] = "changed too"
    source["output"]["matrix"][0].append(9)
    assert snapshot.copy() == _row()


def test_values_that_are_not_json_are_copied_through_pickle() -> None:
    source = {"tuple": (1, [2]), "set": {3}, "nested": {"list": [1]}}
    snapshot = JsonSnapshot(source)
    copy = snapshot.copy()
    assert copy == source
    copy["tuple"][1].append(7)
    copy["nested"]["list"].append(7)
    assert snapshot.copy() == {"tuple": (1, [2]), "set": {3}, "nested": {"list": [1]}}


def test_deeply_nested_values_are_copied_exactly() -> None:
    # 300 levels: the copier; 900 levels: too deep for it and for pickle.dumps, yet json.loads
    # decodes it (a row's output could be that deep).
    for levels in (300, 900):
        source = {"deep": json.loads("[" * levels + "]" * levels)}
        snapshot = JsonSnapshot(source)
        copy = snapshot.copy()
        assert copy["deep"] is not source["deep"]
        depth, node = 0, copy["deep"]
        while node:
            node.append("changed")
            node, depth = node[0], depth + 1
        assert depth == levels - 1
        assert json.dumps(snapshot.copy()) == json.dumps(source)


def test_leaves_and_flat_containers() -> None:
    assert JsonSnapshot("text").copy() == "text"
    assert JsonSnapshot(None).copy() is None
    flat = {"a": 1, "b": "x"}
    snapshot = JsonSnapshot(flat)
    assert snapshot.copy() == flat and snapshot.copy() is not snapshot.copy()
    flat_list = [1, "a", None]
    copy = JsonSnapshot(flat_list).copy()
    assert copy == flat_list and copy is not flat_list
