"""Legacy CrewAI memory (CrewAI 0.193 to 1.9.3) served by the fast-crewai daemon.

CrewAI before 1.10 keeps short-term and entity memory in `RAGStorage` (a Chroma collection per
memory type and crew) and long-term memory in `LTMSQLiteStorage` (a local SQLite file). The
legacy patch (fast_crewai.patches.legacy_memory) attaches a daemon-backed store to each such
storage object built while the daemon is reachable, and routes the storage's methods to it:

* `rag.DaemonRAGStore`: a Chroma collection as a MemoryService namespace; vectors from the
  crew's embedder, or BM25 lexical search when there is none (semantics.py has the scores);
* `ltm.DaemonLTMStore`: the long-term memory table through PersistenceService's LTM RPCs;
* `outage.session_for(directory)`: the durable journal used while the daemon is away.

Module map: semantics (pure CrewAI-compatible rules: ids, scores, filters), conversions (the
only proto mapping), _link (the calls), outage, rag, ltm. Importing this package imports neither
CrewAI nor gRPC; rag and ltm import CrewAI lazily. docs/legacy.md is the long form.
"""
