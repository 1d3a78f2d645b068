"""Legacy memory (CrewAI <= 1.9.3): RAGStorage served by fast-crewai-server against CrewAI's own
Chroma-backed RAGStorage, side by side in one run, on the same documents and queries, with the
same deterministic embedder (tests/python/legacy/legacy_fakes.HashEmbedding, 16-d, so embedding
costs the same on both sides and the storages are what is compared).

Both sides are `crewai.memory.storage.rag_storage.RAGStorage` objects driven through the
RAGStorage API: one built with acceleration suppressed (CrewAI's own Chroma collection), one
built with the legacy patch on (a daemon namespace). Measured, call by call and interleaved:

  * save(value, metadata) latency, documents added one at a time as ShortTermMemory does;
  * search(query, limit=5, score_threshold=0.6), and search with a metadata filter, over the
    --docs documents;
  * the same search in BM25 mode (no embedder), which CrewAI's own storage cannot serve offline
    (reported alone, not as a ratio).

Medians over every call; ratios are Chroma / fast-crewai (above 1: fast-crewai faster).

  .venv-crewai-1.9.3/bin/python bench/legacy_bench.py                 # 2000 docs, 200 queries
  .venv-crewai-1.9.3/bin/python bench/legacy_bench.py --docs 500 --queries 50
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "python" / "legacy"))

WORDS = ("otter river kelp urchin market report revenue penguin winter rock tool shell fish "
         "crab burrow water sleep hands drift coast storm boat harbor net tide reef sand "
         "research writer summary fact source agent task crew memory search").split()


def make_docs(n: int, seed: int = 7) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20)))
        docs.append((f"{text} #{i}", {"observation": f"task {i % 10}", "n": i}))
    return docs


def make_queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="legacy-bench-"))
    os.environ["CREWAI_STORAGE_DIR"] = str(work / "storage")
    os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("OTEL_SDK_DISABLED", "true")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-dummy")

    from harness import Table, interleaved, median
    from server_process import running_daemon
    import fast_crewai  # noqa: F401  first, as a program imports the shim: gRPC tuning (docs/client.md)

    with running_daemon(work / "daemon") as endpoint:
        os.environ["FAST_CREWAI_ENDPOINT"] = endpoint
        import fast_crewai.shim  # noqa: F401
        from crewai import __version__ as crewai_version
        from crewai.memory.storage.rag_storage import RAGStorage
        from fast_crewai.killswitch import suppress_acceleration
        from legacy_fakes import EMBEDDER

        with suppress_acceleration():
            chroma = RAGStorage(type="bench", embedder_config=EMBEDDER)
        daemon = RAGStorage(type="bench", embedder_config=EMBEDDER)
        lexical = RAGStorage(type="bench_lexical")
        assert vars(chroma).get("_fast_crewai_store") is None
        assert vars(daemon).get("_fast_crewai_store") is not None
        assert vars(lexical)["_fast_crewai_store"].mode == "lexical"

        docs = make_docs(args.docs)
        queries = make_queries(args.queries)
        saves = interleaved({
            "daemon": lambda i: daemon.save(*docs[i]),
            "chroma": lambda i: chroma.save(*docs[i]),
        }, count=len(docs) - 3, warmup=3)
        for doc in docs:
            lexical.save(*doc)

        def q(i: int) -> str:
            return queries[i % len(queries)]

        searches = interleaved({
            "daemon": lambda i: daemon.search(q(i), limit=5, score_threshold=0.6),
            "chroma": lambda i: chroma.search(q(i), limit=5, score_threshold=0.6),
        }, count=len(queries))
        where = {"observation": "task 3"}
        filtered = interleaved({
            "daemon": lambda i: daemon.search(q(i), limit=5, filter=where, score_threshold=0.0),
            "chroma": lambda i: chroma.search(q(i), limit=5, filter=where, score_threshold=0.0),
        }, count=len(queries))
        bm25 = interleaved({"daemon": lambda i: lexical.search(q(i), limit=5)},
                           count=len(queries))

        checked = queries[:50]
        agree = sum(
            [r["id"] for r in daemon.search(qq, limit=5, score_threshold=0.0)]
            == [r["id"] for r in chroma.search(qq, limit=5, score_threshold=0.0)]
            for qq in checked)

    table = Table(f"legacy RAGStorage, CrewAI {crewai_version}, {args.docs} docs x 16-d, "
                  f"{args.queries} queries (median per call)", "fast-crewai", "chroma")
    table.add("save (one document)", median(saves["daemon"]), median(saves["chroma"]))
    table.add("search limit 5, threshold 0.6", median(searches["daemon"]),
              median(searches["chroma"]))
    table.add("search with metadata filter", median(filtered["daemon"]),
              median(filtered["chroma"]))
    print(table.render())
    print(f"BM25 search (no embedder; Chroma needs an embedding provider): "
          f"{median(bm25['daemon']) * 1e3:.3f} ms median")
    print(f"same top-5 ids as Chroma (exact kNN vs Chroma's HNSW) on {agree}/{len(checked)} "
          "queries")


if __name__ == "__main__":
    main()
