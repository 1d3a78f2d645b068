"""A two-agent, two-task legacy CrewAI crew (memory=True) on the fake LLM; prints one JSON line.

Run by test_legacy_crew.py in subprocesses (CREWAI_STORAGE_DIR and FAST_CREWAI_* set by it):

    python legacy_crew_script.py run [--shim] [--no-embedder]   # kick the crew off
    python legacy_crew_script.py read [--shim] [--no-embedder]  # read its memories back

`run` prints the outputs; `read` builds the same crew's memories (same agents, so the same
collections) and prints what short-term, entity and long-term memory return for fixed queries.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from legacy_fakes import EMBEDDER, FACT, LegacyFakeLLM

STM_QUERY = "otters hold hands while sleeping"
ENTITY_QUERY = "sea otter marine mammal kelp"


def build_crew(embedder: bool) -> tuple[object, object]:
    from crewai import Agent, Crew, Task

    llm = LegacyFakeLLM(model="fake-llm")
    researcher = Agent(role="Researcher", goal="Find facts about {topic}",
                       backstory="A careful researcher.", llm=llm, allow_delegation=False)
    writer = Agent(role="Writer", goal="Write about {topic}", backstory="A concise writer.",
                   llm=llm, allow_delegation=False)
    research = Task(description="List three facts about {topic}.",
                    expected_output="Three facts.", agent=researcher)
    summary = Task(description="Summarise the facts about {topic} in one sentence.",
                   expected_output="One sentence.", agent=writer)
    kwargs = {"embedder": EMBEDDER} if embedder else {}
    crew = Crew(agents=[researcher, writer], tasks=[research, summary], memory=True, **kwargs)
    return crew, llm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["run", "read"])
    parser.add_argument("--shim", action="store_true")
    parser.add_argument("--no-embedder", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.shim:
        import fast_crewai.shim  # noqa: F401

    crew, llm = build_crew(embedder=not args.no_embedder)
    result: dict = {}
    if args.action == "run":
        output = crew.kickoff(inputs={"topic": "otters"})
        result = {"raw": output.raw, "tasks": [t.raw for t in output.tasks_output],
                  "llm_calls": len(llm.prompts)}
    else:
        from crewai.memory.entity.entity_memory import EntityMemory
        from crewai.memory.long_term.long_term_memory import LongTermMemory
        from crewai.memory.short_term.short_term_memory import ShortTermMemory

        embedder = None if args.no_embedder else EMBEDDER
        stm = ShortTermMemory(crew=crew, embedder_config=embedder)
        entity = EntityMemory(crew=crew, embedder_config=embedder)
        ltm = LongTermMemory()
        result = {
            "stm": stm.search(STM_QUERY, limit=5, score_threshold=0.0),
            "entities": entity.search(ENTITY_QUERY, limit=5, score_threshold=0.0),
            "ltm": ltm.search("List three facts about otters.", latest_n=5),
            "stores": [repr(vars(m.storage).get("_fast_crewai_store"))
                       for m in (stm, entity, ltm)],
        }
    if args.shim:
        from fast_crewai import report

        result["patches"] = [[r.area, r.name, r.applied, r.reason] for r in report()]
    result["fact"] = FACT
    print("RESULT " + json.dumps(result, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
