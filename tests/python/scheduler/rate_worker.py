"""One process of the shared rate-limit test: a crew with max_rpm kicked off in a loop.

    python rate_worker.py --max-rpm 60 --seconds 30 --calls FILE --go FILE

Imports the shim (acceleration on, per the FAST_CREWAI_* environment), builds a one-task crew
on a fake LLM with `max_rpm`, prints READY, waits for the go file, then kicks the crew off
again and again; every LLM call appends its wall-clock time to FILE (flushed at once). After
`--seconds` the process exits at once (os._exit), even while it waits for a permit.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-rpm", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--go", required=True)
    args = parser.parse_args()

    import fast_crewai.shim  # noqa: F401
    from crewai import Agent, Crew, Task
    from crewai.llms.base_llm import BaseLLM

    out = open(args.calls, "a", buffering=1)

    class CountingLLM(BaseLLM):
        def call(self, messages: Any, *a: Any, **k: Any) -> str:  # type: ignore[override]
            out.write(f"{time.time()}\n")
            out.flush()
            return "Thought: ok\nFinal Answer: ok"

        def supports_function_calling(self) -> bool:
            return False

    agent = Agent(role="Caller", goal="Call", backstory="Calls.", llm=CountingLLM(model="c"),
                  allow_delegation=False)
    task = Task(description="Call once.", expected_output="ok", agent=agent)
    crew = Crew(agents=[agent], tasks=[task], max_rpm=args.max_rpm)
    print("READY", flush=True)
    while not os.path.exists(args.go):
        time.sleep(0.01)
    threading.Timer(args.seconds, lambda: os._exit(0)).start()
    while True:
        crew.kickoff()


if __name__ == "__main__":
    sys.exit(main())
