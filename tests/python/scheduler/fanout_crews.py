"""Crew factories the fan-out tests hand to `fast-crewai worker` ("fanout_crews:echo_crew").

`echo_crew` is one agent and one task on `EchoLLM`, which answers "done #<n> pid <pid>" for
the input `{"n": <n>}` after FANOUT_DELAY seconds (default 0). Each kickoff first writes a file
"<n>-<pid>-<random>" into $FANOUT_ATTEMPTS_DIR (when set): the count of executions per input,
kept outside of the processes, which a SIGKILL cannot lose.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

from crewai import Agent, Crew, Task
from crewai.llms.base_llm import BaseLLM

import fast_crewai


class EchoLLM(BaseLLM):
    def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        text = messages if isinstance(messages, str) else " ".join(
            str(m.get("content", "")) for m in messages)
        n = re.search(r"input number (\d+)", text)
        time.sleep(float(os.environ.get("FANOUT_DELAY", "0")))
        return (f"Thought: done\nFinal Answer: done #{n.group(1) if n else '?'} "
                f"pid {os.getpid()}")

    def supports_function_calling(self) -> bool:
        return False


def _record_attempt(inputs: dict[str, Any]) -> dict[str, Any]:
    directory = os.environ.get("FANOUT_ATTEMPTS_DIR")
    if directory:
        name = f"{inputs.get('n')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with open(os.path.join(directory, name), "w") as f:
            f.write(str(time.time()))
    return inputs


@fast_crewai.crew_factory
def echo_crew() -> Crew:
    agent = Agent(role="Echo", goal="Echo the input", backstory="Echoes.",
                  llm=EchoLLM(model="echo"), allow_delegation=False)
    task = Task(description="Handle input number {n}.", expected_output="The echo.",
                agent=agent)
    return Crew(agents=[agent], tasks=[task], before_kickoff_callbacks=[_record_attempt])


def failing_crew() -> Crew:
    crew = echo_crew()

    def explode(inputs: dict[str, Any]) -> dict[str, Any]:
        if int(inputs.get("n", 0)) % 2:
            raise RuntimeError(f"odd input {inputs['n']}")
        return inputs

    crew.before_kickoff_callbacks.append(explode)
    return crew
