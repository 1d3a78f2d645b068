"""DaemonRAGStore: one legacy RAGStorage (a Chroma collection) kept in a daemon namespace.

The legacy patch builds one for every `RAGStorage` constructed while the daemon is reachable
and sends the storage's save/search/reset (and asave/asearch) here, with CrewAI's signatures and
results:

* Namespace: `chroma:<real path of the Chroma persist directory>#<collection>`, where the
  collection is CrewAI's `memory_{type}_{agents}` (or `memory_{type}`) after Chroma's name
  sanitising, and the persist directory is the one CrewAI's client for this storage uses. Every
  process of a project therefore shares one namespace per memory type and crew, as they share
  one Chroma collection.
* Mode: "vector" when the storage has an embedder (CrewAI's own: the embedding function of the
  storage's Chroma client, else `build_embedder(embedder_config)`), "lexical" (BM25, no
  embedder call) when it has none or FAST_CREWAI_LEGACY_SEARCH=lexical. Scores and thresholds:
  fast_crewai.legacy.semantics.
* Distance (vector mode): a Chroma collection scores by the distance it was created with, and
  CrewAI creates it with cosine in save() but with Chroma's default, L2, in search(). The
  daemon keeps which one each collection has: a record "distance" (content "cosine" or "l2") in
  the namespace `<namespace>#distance`, written by the first save or search of an empty
  namespace and dropped by reset(); a namespace with records and no such record has cosine
  (saved before the record existed). Cosine collections hold unit-normalised embeddings, L2
  collections the embedder's own.
* save(value, metadata): upsert under CrewAI's document id. search(query, limit=5, filter=None,
  score_threshold=0.6): `[{"id", "content", "metadata", "score"}]`, best first. reset(): empties
  the namespace. Errors are logged and swallowed where CrewAI's RAGStorage swallows them (save,
  search); reset raises as CrewAI's does.
* Outages: fast_crewai.legacy.outage, with CrewAI's own methods on the same storage object as
  the local side (`local_*` callables given by the patch).

Thread-safety: safe from any thread (the daemon serialises writes per namespace).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from fast_crewai import errors
from fast_crewai.legacy import _link, conversions, outage, semantics
from fast_crewai.memory.namespace import shorten

_logger = logging.getLogger(__name__)

MODE_VECTOR = "vector"
MODE_LEXICAL = "lexical"
# The daemon's largest search; used to evaluate `where` operators it does not know.
MAX_LIMIT = 10_000
DISTANCE_COSINE = "cosine"
DISTANCE_L2 = "l2"
_DISTANCE_ID = "distance"

# The distance of each namespace's collection, as this process learnt it (module docstring).
_distances: dict[str, str] = {}
_distances_lock = threading.Lock()


def collection_name(storage: Any) -> str:
    """CrewAI's collection name for `storage`, sanitised as its Chroma client does."""
    name = f"memory_{storage.type}_{storage.agents}" if storage.agents else f"memory_{storage.type}"
    from crewai.rag.chromadb.utils import _sanitize_collection_name

    return _sanitize_collection_name(name)


def persist_directory(storage: Any) -> str:
    """The directory of the Chroma client `storage` uses: its own client's (built when it has
    an embedder), else the global RAG config's, else CrewAI's default (db_storage_path())."""
    client = getattr(storage, "_client", None)
    settings = None
    if client is not None:
        try:
            settings = client.client.get_settings()
        except Exception:  # noqa: BLE001 - another client kind: fall through to the defaults
            settings = None
    else:
        try:
            from crewai.rag.config.utils import _rag_context

            context = _rag_context.get()
            settings = getattr(getattr(context, "config", None), "settings", None)
        except Exception:  # noqa: BLE001
            settings = None
    directory = getattr(settings, "persist_directory", None)
    if not directory:
        from crewai.rag.chromadb.constants import DEFAULT_STORAGE_PATH

        directory = DEFAULT_STORAGE_PATH
    return os.path.realpath(directory)


def embedding_function(storage: Any) -> Callable[[list[str]], Any] | None:
    """The storage's embedder (CrewAI's), or None when it has no embedder_config."""
    if not getattr(storage, "embedder_config", None):
        return None
    client = getattr(storage, "_client", None)
    function = getattr(client, "embedding_function", None)
    if function is not None:
        return function
    from crewai.rag.embeddings.factory import build_embedder

    return build_embedder(storage.embedder_config)


def document_id(content: str, metadata: dict[str, Any]) -> str:
    """The id CrewAI's Chroma client gives this document (its own function, so the hash is the
    installed release's: blake2b on 0.x, sha256 on 1.x); a repeated save is an upsert."""
    try:
        from crewai.rag.chromadb.utils import _prepare_documents_for_chromadb
    except ImportError:
        return semantics.document_id(content, metadata)
    document: dict[str, Any] = {"content": content}
    if metadata:
        document["metadata"] = metadata
    return str(_prepare_documents_for_chromadb([document]).ids[0])


class DaemonRAGStore:
    """The daemon side of one RAGStorage (module docstring)."""

    def __init__(self, storage: Any, *, lexical_only: bool = False) -> None:
        """Raises errors.DaemonUnavailable when the daemon does not answer."""
        self.type = storage.type
        self.collection = collection_name(storage)
        self.directory = persist_directory(storage)
        self.namespace = shorten(f"chroma:{self.directory}#{self.collection}")
        self.distance_namespace = shorten(
            f"chroma:{self.directory}#{self.collection}#{_DISTANCE_ID}")
        self._embed = None if lexical_only else embedding_function(storage)
        self.mode = MODE_VECTOR if self._embed is not None else MODE_LEXICAL
        self._session = outage.session_for(self.directory)
        outage.connect(self._session)

    def __repr__(self) -> str:
        return f"DaemonRAGStore(namespace={self.namespace!r}, mode={self.mode})"

    def __copy__(self) -> DaemonRAGStore:
        return self

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> DaemonRAGStore:
        return self

    def _embedding(self, text: str, distance: str) -> list[float] | None:
        if self._embed is None:
            return None
        vector = [float(v) for v in self._embed([text])[0]]
        return semantics.unit(vector) if distance == DISTANCE_COSINE else vector

    def _distance(self, creating_call: str) -> str:
        """The distance of the collection (module docstring); `creating_call` ("save" or
        "search") is the call being made, which fixes it when the collection is empty. While
        the daemon is away: that call's distance, not remembered."""
        if self._embed is None:
            return DISTANCE_COSINE  # lexical: no vectors
        with _distances_lock:
            known = _distances.get(self.namespace)
        if known is not None:
            return known
        created = DISTANCE_L2 if creating_call == "search" else DISTANCE_COSINE
        if self._session.degraded:
            return created
        try:
            marked = _link.call("GetRecord",
                                conversions.get_record(self.distance_namespace, _DISTANCE_ID))
            if marked.found and marked.record.content in (DISTANCE_COSINE, DISTANCE_L2):
                distance = marked.record.content
            else:
                described = _link.call("DescribeNamespace", conversions.describe(self.namespace))
                distance = (DISTANCE_COSINE if described.exists and described.record_count > 0
                            else created)
                _link.call("SaveRecords", conversions.save_document(
                    self.distance_namespace, _DISTANCE_ID, distance, {}, None))
        except errors.RpcError as e:
            _logger.warning("fast-crewai: could not read the distance of %s (%s); using %s",
                            self.namespace, e, created)
            return created
        with _distances_lock:
            _distances[self.namespace] = distance
        return distance

    def save(self, value: Any, metadata: dict[str, Any] | None,
             local: Callable[[], Any]) -> None:
        """Stores `value` as CrewAI's RAGStorage.save does; errors are logged, as CrewAI's."""
        try:
            if not isinstance(value, str):
                raise TypeError(f"expected str content, got {type(value).__name__}")
            meta = dict(metadata or {})
            request = conversions.save_document(
                self.namespace, document_id(value, meta), value, meta,
                self._embedding(value, self._distance("save")))
            self._session.write("SaveRecords", request, _link.call, local)
        except Exception as e:  # noqa: BLE001 - CrewAI's save logs and goes on
            logging.error(f"Error during {self.type} save: {e!s}")

    def search(self, query: str, limit: int = 5, filter: dict[str, Any] | None = None,
               score_threshold: float = 0.6, *,
               local: Callable[[], list[Any]]) -> list[Any]:
        """CrewAI's `[{"id", "content", "metadata", "score"}]`, best first; [] on error."""
        try:
            return self._search(query, limit, filter, score_threshold, local)
        except Exception as e:  # noqa: BLE001 - CrewAI's search logs and returns []
            logging.error(f"Error during {self.type} search: {e!s}")
            return []

    def _search(self, query: str, limit: int, where: dict[str, Any] | None,
                threshold: float | None, local: Callable[[], list[Any]]) -> list[Any]:
        limit = int(limit)
        if limit < 1:  # Chroma refuses it; CrewAI logs the error and returns []
            raise ValueError(f"Number of requested results {limit}, cannot be negative, or zero.")
        semantics.check_where(where)
        threshold = float(threshold or 0.0)
        if threshold > 1.0:
            return []
        equality = semantics.equality_filter(where)
        distance = self._distance("search")
        vector = self._embedding(query, distance)
        if vector is not None and distance == DISTANCE_L2:
            to_score, min_score = semantics.l2_score, semantics.l2_min_score(threshold)
        elif vector is not None:
            to_score, min_score = semantics.vector_score, semantics.vector_min_score(threshold)
        else:
            to_score, min_score = semantics.lexical_score, semantics.lexical_min_score(threshold)
        request = conversions.search(
            self.namespace, query_text=query, query_embedding=vector,
            metadata_filter=equality,
            limit=min(limit, MAX_LIMIT) if equality is not None else MAX_LIMIT,
            min_score=min_score)

        def convert(response: Any) -> list[Any]:
            out = []
            for result in conversions.results(response):
                result["score"] = to_score(result["score"])
                if not semantics.kept(result["score"], threshold):
                    continue
                if equality is None and not semantics.matches(result["metadata"], where):
                    continue
                out.append(result)
                if len(out) >= limit:
                    break
            return out

        return self._session.read(lambda: _link.call("Search", request), convert, local)

    def reset(self, local: Callable[[], Any]) -> None:
        """Empties the collection's namespace; raises as CrewAI's reset does."""
        try:
            self._session.write("Reset", conversions.reset(self.namespace), _link.call, local)
            # A new collection's first call fixes its distance again, as in Chroma.
            self._session.write("Reset", conversions.reset(self.distance_namespace), _link.call,
                                lambda: None)
            with _distances_lock:
                _distances.pop(self.namespace, None)
        except errors.RpcError as e:
            raise Exception(
                f"An error occurred while resetting the {self.type} memory: {e}") from e
