"""A separate Python process for the persistence tests: real CrewAI, the fake LLM, the shim.

    python persistence_worker.py crew --topic otters [--go-file F] [--no-shim]
    python persistence_worker.py foreach --topics a,b,c
    python persistence_worker.py replay --task-id ID
    python persistence_worker.py hold --name N [--lease S] [--seconds S]
    python persistence_worker.py contend --name N --rounds R --log FILE [--go-file F]
    python persistence_worker.py flow [--resume-id ID]
    python persistence_worker.py checkpoint (--dir D | --restore FILE)

Each prints one line "RESULT <json>" (hold prints "HELD" when it has the lock, then sleeps).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any


def emit(result: dict[str, Any]) -> None:
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


def wait_for(path: str | None) -> None:
    deadline = time.monotonic() + 30
    while path and not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.005)


def build_crew() -> Any:
    """Two agents, two tasks; identical in every process, so task keys match on replay."""
    from crewai import Agent, Crew, Task

    from fakes import FakeLLM

    llm = FakeLLM(model="fake-llm")
    researcher = Agent(role="Researcher", goal="Find facts about {topic}",
                       backstory="A careful researcher.", llm=llm, allow_delegation=False)
    writer = Agent(role="Writer", goal="Write about {topic}", backstory="A concise writer.",
                   llm=llm, allow_delegation=False)
    research = Task(description="List three facts about {topic}.",
                    expected_output="Three facts.", agent=researcher)
    summary = Task(description="Summarise the facts about {topic} in one sentence.",
                   expected_output="One sentence.", agent=writer)
    crew = Crew(agents=[researcher, writer], tasks=[research, summary])
    crew._fake_llm = llm  # type: ignore[attr-defined]
    return crew


def storage_kind(crew: Any) -> str:
    return type(crew._task_output_handler.storage).__name__


def cmd_crew(args: argparse.Namespace) -> None:
    crew = build_crew()
    wait_for(args.go_file)
    output = crew.kickoff(inputs={"topic": args.topic})
    storage = crew._task_output_handler.storage
    emit({
        "storage": storage_kind(crew),
        "kickoff_id": getattr(storage, "kickoff_id", None),
        "task_ids": [str(t.id) for t in crew.tasks],
        "outputs": [t.raw for t in output.tasks_output],
        "rows": [[r["task_id"], r["task_index"], r["inputs"]]
                 for r in crew._task_output_handler.load()],
    })


def cmd_foreach(args: argparse.Namespace) -> None:
    crew = build_crew()
    outputs = crew.kickoff_for_each(inputs=[{"topic": t} for t in args.topics.split(",")])
    emit({"storage": storage_kind(crew), "outputs": [[t.raw for t in o.tasks_output]
                                                     for o in outputs]})


def cmd_replay(args: argparse.Namespace) -> None:
    crew = build_crew()
    output = crew.replay(args.task_id)
    storage = crew._task_output_handler.storage
    emit({
        "storage": storage_kind(crew),
        "kickoff_id": getattr(storage, "kickoff_id", None),
        "task_ids": [str(t.id) for t in crew.tasks],
        "outputs": [t.raw for t in output.tasks_output],
        "inputs": crew._inputs,
        "llm_calls": len(crew._fake_llm.prompts),
        "rows": [[r["task_id"], r["task_index"], r["was_replayed"]]
                 for r in crew._task_output_handler.load()],
    })


def cmd_hold(args: argparse.Namespace) -> None:
    from fast_crewai.persistence.locks import daemon_lock

    with daemon_lock(args.name, timeout=10, lease_s=args.lease):
        print("HELD", flush=True)
        time.sleep(args.seconds)
    emit({"released": True})


def cmd_contend(args: argparse.Namespace) -> None:
    from crewai_core import lock_store

    wait_for(args.go_file)
    pid = os.getpid()
    started = time.monotonic()
    for _ in range(args.rounds):
        with lock_store.lock(args.name, timeout=30):
            # O_APPEND writes of one short line are atomic; the order in the file is the order
            # of the critical sections.
            with open(args.log, "a") as log:
                log.write(f"enter {pid}\n")
            time.sleep(0.001)
            with open(args.log, "a") as log:
                log.write(f"exit {pid}\n")
    emit({"backend": type(lock_store._backend).__name__ if lock_store._backend else None,
          "seconds": time.monotonic() - started})


def cmd_flow(args: argparse.Namespace) -> None:
    from crewai.flow.flow import Flow, start
    from crewai.flow.persistence import persist
    from pydantic import BaseModel

    class CounterState(BaseModel):
        id: str = ""
        count: int = 0
        history: list[str] = []

    @persist()
    class CounterFlow(Flow[CounterState]):
        @start()
        def step(self) -> int:
            self.state.count += 1
            self.state.history.append(f"pid-{os.getpid()}")
            return self.state.count

    flow = CounterFlow()
    inputs = {"id": args.resume_id} if args.resume_id else None
    flow.kickoff(inputs=inputs)
    persistence = CounterFlow.__flow_persistence_config__.persistence  # type: ignore[attr-defined]
    emit({"id": flow.state.id, "count": flow.state.count, "history": flow.state.history,
          "persistence": type(persistence).__name__})


def cmd_checkpoint(args: argparse.Namespace) -> None:
    """A two-step flow on the default flow persistence, checkpointed into --dir when it
    finishes; or restored from the checkpoint file --restore and kicked off again. (Checkpoints
    at each method's end race with the flow in CrewAI 1.15.30 itself: serializing its event
    record while the flow adds to it fails now and then, shim or not.)"""
    import glob

    from crewai.flow.flow import Flow, listen, start
    from crewai.flow.persistence.factory import default_flow_persistence
    from crewai.state.checkpoint_config import CheckpointConfig
    from pydantic import BaseModel

    class StepState(BaseModel):
        id: str = ""
        n: int = 0

    class StepFlow(Flow[StepState]):
        @start()
        def first(self) -> None:
            self.state.n += 1

        @listen(first)
        def second(self) -> None:
            self.state.n += 10

    if args.restore:
        flow = StepFlow.from_checkpoint(CheckpointConfig(restore_from=args.restore))
        restored = flow.state.n
        flow.kickoff()
        emit({"persistence": type(flow.persistence).__name__, "restored": restored,
              "n": flow.state.n})
        return
    flow = StepFlow(persistence=default_flow_persistence(),
                    checkpoint=CheckpointConfig(location=args.dir, on_events=["flow_finished"]))
    flow.kickoff()
    deadline = time.monotonic() + 10  # checkpoints are written by the event bus's handlers
    files: list[str] = []
    while not files and time.monotonic() < deadline:
        files = sorted(f for f in glob.glob(os.path.join(args.dir, "**", "*"), recursive=True)
                       if os.path.isfile(f))
        time.sleep(0.05)
    emit({"persistence": type(flow.persistence).__name__, "n": flow.state.n,
          "checkpoints": files})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-shim", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    crew = sub.add_parser("crew")
    crew.add_argument("--topic", required=True)
    crew.add_argument("--go-file")
    foreach = sub.add_parser("foreach")
    foreach.add_argument("--topics", required=True)
    replay = sub.add_parser("replay")
    replay.add_argument("--task-id", required=True)
    hold = sub.add_parser("hold")
    hold.add_argument("--name", required=True)
    hold.add_argument("--lease", type=float, default=15.0)
    hold.add_argument("--seconds", type=float, default=60.0)
    contend = sub.add_parser("contend")
    contend.add_argument("--name", required=True)
    contend.add_argument("--rounds", type=int, required=True)
    contend.add_argument("--log", required=True)
    contend.add_argument("--go-file")
    flow = sub.add_parser("flow")
    flow.add_argument("--resume-id")
    checkpoint = sub.add_parser("checkpoint")
    checkpoint.add_argument("--dir")
    checkpoint.add_argument("--restore")
    args = parser.parse_args()

    # fast_crewai's warnings (a fallback to CrewAI's files, ...) on stderr, for a failing test.
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    logging.getLogger("fast_crewai").addHandler(handler)
    if not args.no_shim:
        import fast_crewai.shim  # noqa: F401  (as a user would, first)
    {"crew": cmd_crew, "foreach": cmd_foreach, "replay": cmd_replay, "hold": cmd_hold,
     "contend": cmd_contend, "flow": cmd_flow,
     "checkpoint": cmd_checkpoint}[args.command](args)


if __name__ == "__main__":
    main()
