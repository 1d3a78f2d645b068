"""A two-agent, two-task CrewAI crew on the fake LLM; prints its outputs as one JSON line.

Run by test_crew_e2e.py in a subprocess:

    python crew_script.py [--shim] [--memory DIR]

--shim      `import fast_crewai.shim` first (acceleration on, as a user would do it).
--memory    give the crew a unified Memory stored in DIR (hash embedder, fake LLM), so the
            second task's prompt includes what the first one produced.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shim", action="store_true")
    parser.add_argument("--memory", metavar="DIR")
    args = parser.parse_args()

    started = time.monotonic()
    if args.shim:
        import fast_crewai.shim  # noqa: F401

    from crewai import Agent, Crew, Task

    from fakes import FakeLLM, hash_embedder

    llm = FakeLLM(model="fake-llm")
    researcher = Agent(role="Researcher", goal="Find facts about {topic}",
                       backstory="A careful researcher.", llm=llm, allow_delegation=False)
    writer = Agent(role="Writer", goal="Write about {topic}", backstory="A concise writer.",
                   llm=llm, allow_delegation=False)
    research = Task(description="List three facts about {topic}.",
                    expected_output="Three facts.", agent=researcher)
    summary = Task(description="Summarise the facts about {topic} in one sentence.",
                   expected_output="One sentence.", agent=writer)
    crew_kwargs = {}
    if args.memory:
        from crewai.memory.unified_memory import Memory

        crew_kwargs["memory"] = Memory(storage=args.memory, llm=llm, embedder=hash_embedder(16))
    crew = Crew(agents=[researcher, writer], tasks=[research, summary], **crew_kwargs)

    kickoff_started = time.monotonic()
    output = crew.kickoff(inputs={"topic": "otters"})
    finished = time.monotonic()

    result = {
        "raw": output.raw,
        "tasks": [t.raw for t in output.tasks_output],
        "llm_calls": len(llm.prompts),
        "kickoff_seconds": finished - kickoff_started,
        "total_seconds": finished - started,
    }
    if args.shim:
        from fast_crewai import report

        result["patches"] = [[r.area, r.name, r.applied, r.reason] for r in report()]
    print("RESULT " + json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
