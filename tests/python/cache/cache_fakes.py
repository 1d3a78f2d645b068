"""Fakes for the cache suite: an LLM that calls one tool, and a tool that counts its runs.

`ToolCallingLLM(tool_name, tool_input, native=False)` is a real CrewAI `BaseLLM`. Its first
answer in a task asks for the tool; once the tool's result is in the conversation it answers
"Final Answer: <that result>". With `native=False` it speaks CrewAI's ReAct text protocol
(`Action:` / `Action Input:`, the tools/tool_usage.py path); with `native=True` it claims native
function calling and returns an OpenAI-style tool-call list (the agent_executor /
utilities/agent_utils.py path). Both paths read and write the agent's cache handler.

`counting_tool(counter_file, sleep)` returns a CrewAI tool `lookup(query)` whose body appends one
line "<pid> <query>" to `counter_file` (O_APPEND: safe across processes), sleeps `sleep` seconds,
and returns "answer for <query>", so a test counts how often the body really ran, in every
process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from crewai.llms.base_llm import BaseLLM
from crewai.tools import tool
from pydantic import PrivateAttr

ANSWER_PREFIX = "answer for "


def _text(messages: Any) -> str:
    return messages if isinstance(messages, str) else json.dumps(messages, default=str)


class ToolCallingLLM(BaseLLM):
    tool_name: str = "lookup"
    tool_input: dict[str, Any] = {}
    native: bool = False
    _calls: int = PrivateAttr(default=0)

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None,
             available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
             response_model: Any = None) -> Any:
        self._calls += 1
        text = _text(messages)
        if ANSWER_PREFIX in text:
            start = text.index(ANSWER_PREFIX)
            observation = text[start:start + 80].split('"')[0].split("\\n")[0]
            return f"Thought: I now know the final answer\nFinal Answer: {observation}"
        if '"role": "tool"' in text or "encountered an error" in text:  # the tool failed
            return "Thought: the tool failed\nFinal Answer: no answer"
        if self.native:
            return [{"id": f"call_{self._calls}", "type": "function",
                     "function": {"name": self.tool_name,
                                  "arguments": json.dumps(self.tool_input)}}]
        return ("Thought: I should use the tool\n"
                f"Action: {self.tool_name}\nAction Input: {json.dumps(self.tool_input)}")

    def supports_function_calling(self) -> bool:
        return self.native

    @property
    def calls(self) -> int:
        return self._calls


def counting_tool(counter_file: str | Path, sleep: float = 0.0) -> Any:
    path = str(counter_file)

    @tool("lookup")
    def lookup(query: str) -> str:
        """Looks the query up in a slow, expensive service."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, f"{os.getpid()} {query}\n".encode())
        finally:
            os.close(fd)
        if sleep:
            time.sleep(sleep)
        return f"{ANSWER_PREFIX}{query}"

    return lookup


def runs(counter_file: str | Path) -> list[str]:
    """The lines the tool body wrote, one per run."""
    p = Path(counter_file)
    return p.read_text().splitlines() if p.exists() else []


def make_crew(counter_file: str | Path, query: str = "otters", *, native: bool = False,
              sleep: float = 0.0) -> Any:
    """A one-agent, one-task Crew(cache=True) whose agent calls `lookup(query)` once."""
    from crewai import Agent, Crew, Task

    llm = ToolCallingLLM(model="fake-tool-llm", tool_input={"query": query}, native=native)
    agent = Agent(role="Researcher", goal="Answer questions", backstory="Uses tools.",
                  llm=llm, tools=[counting_tool(counter_file, sleep)], allow_delegation=False)
    task = Task(description=f"Find out about {query}.", expected_output="A fact.", agent=agent)
    return Crew(agents=[agent], tasks=[task], cache=True)
