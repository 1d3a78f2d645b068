"""A crew whose memory lives in fast-crewai-server, shared with every other agent process.

Run several of these at once (docker compose up --scale agent=3): each one recalls what the
others remembered, because they all talk to the same daemon.
"""

import os
import socket

import fast_crewai.shim  # noqa: F401  (patches CrewAI on import; must come before the crew is built)
from crewai import Agent, Crew, Task


def main() -> None:
    researcher = Agent(
        role="Researcher",
        goal="Collect facts about {topic}",
        backstory="You keep notes that the whole team can reuse.",
    )
    task = Task(
        description="Write three facts about {topic} that the team has not noted yet.",
        expected_output="Three short facts.",
        agent=researcher,
    )
    crew = Crew(agents=[researcher], tasks=[task], memory=True)
    result = crew.kickoff(inputs={"topic": os.environ.get("TOPIC", "vector databases")})
    print(f"[{socket.gethostname()}] {result.raw}")


if __name__ == "__main__":
    main()
