"""The Chroma-style client and collection, over a backend: the embedded database (_embedded.py)
or a `sextant serve` server (_http.py).

Only argument shaping lives here: Chroma's argument names and forms are turned into Sextant's
calls (the codec's JSON forms of settings, queries and filters), and results into Chroma's dicts.
Everything a collection judges (dimensions, NaN, ids, metadata, filters, query fields) is judged
once, in C++, for both clients. One thing Sextant does not do itself is done here: Chroma's
``where_document`` (``$contains``/``$not_contains`` and ``$and``/``$or`` of them, evaluated on the
candidates' documents). A collection's metadata is Sextant's own (CollectionConfig::metadata, in
the collection's config.json; changed with Collection::SetMetadata or PATCH on a server).
"""

import json
import time

import numpy as np

from . import errors

DEFAULT_MODEL = "potion-base-4M"
# Kept in the collection's metadata (and hidden from Collection.metadata): the collection was
# created without a dimension and takes that of the first vectors added while it is empty.
AUTO_DIMENSION_KEY = "sextant:auto_dimension"

_GET_INCLUDE = ("documents", "metadatas", "embeddings", "uris", "data")
_QUERY_INCLUDE = _GET_INCLUDE + ("distances",)
_SCROLL_PAGE = 1000
_MAX_K = 10000


class DefaultEmbeddingFunction:
    """Chroma's embedding-function protocol over Sextant's built-in model (potion-base-4M, 128-d,
    in-process, no download): ``f(["text", ...]) -> float32 array (N x 128)``. Needs the embedded
    extension. Collections without an ``embedding_function`` do not need it: their documents
    are embedded by the collection itself (on the server, for HttpClient)."""

    def __init__(self, model=DEFAULT_MODEL):
        self.model = model

    def __call__(self, input):
        from . import _core  # the embedded extension
        return _core.embed(list(input), self.model, False)

    def embed_query(self, input):
        from . import _core
        return _core.embed(list(input), self.model, True)

    @staticmethod
    def name():
        return "sextant_default"


# --- argument shaping --------------------------------------------------------------------------


def _as_list(x, what):
    if x is None:
        return None
    if isinstance(x, (str, dict)):
        return [x]
    if isinstance(x, np.ndarray):
        return list(x)
    if not isinstance(x, (list, tuple)):
        raise errors.InvalidArgumentError(f"{what} must be a list, got {type(x).__name__}")
    return list(x)


def _ids(ids):
    ids = _as_list(ids, "ids")
    if ids is None:
        raise errors.InvalidArgumentError("ids are required")
    for i, x in enumerate(ids):
        if not isinstance(x, str):
            raise errors.InvalidArgumentError(f"ids[{i}] must be a string, got {type(x).__name__}")
    if len(set(ids)) != len(ids):
        seen, dup = set(), []
        for x in ids:
            if x in seen and x not in dup:
                dup.append(x)
            seen.add(x)
        raise errors.DuplicateIDError("duplicate id in one call: " + ", ".join(repr(d) for d in dup[:5]))
    return ids


def _matrix(vectors, what):
    """Embeddings as an N x d float32 array (a C-contiguous float32 array is used as is)."""
    if vectors is None:
        return None
    if isinstance(vectors, np.ndarray):
        a = vectors
    else:
        rows = list(vectors)
        if rows and isinstance(rows[0], (int, float, np.number)):
            rows = [rows]  # one embedding given flat
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        lengths = {len(r) for r in rows}
        if len(lengths) != 1:
            raise errors.InvalidArgumentError(
                f"{what}: rows of different lengths ({', '.join(str(n) for n in sorted(lengths))})")
        try:
            a = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise errors.InvalidArgumentError(f"{what}: not numbers: {e}") from None
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise errors.InvalidArgumentError(f"{what} must be one vector or a list of vectors")
    if a.dtype != np.float32 or not a.flags.c_contiguous:
        if not np.issubdtype(a.dtype, np.number):
            raise errors.InvalidArgumentError(f"{what}: not numbers (dtype {a.dtype})")
        a = np.ascontiguousarray(a, dtype=np.float32)
    return a


def _same_length(n, **lists):
    for name, values in lists.items():
        if values is not None and len(values) != n:
            raise errors.InvalidArgumentError(f"{name} has {len(values)} entries, ids has {n}")


def _check_include(include, allowed, where):
    if include is None:
        return []
    if isinstance(include, str):
        include = [include]
    include = list(include)
    for f in include:
        if f not in allowed:
            raise errors.InvalidArgumentError(
                f"{where}: unknown include field {f!r} (allowed: {', '.join(allowed)})")
    return include


def _check_where_document(wd):
    if wd is None:
        return
    if not isinstance(wd, dict) or len(wd) != 1:
        raise errors.InvalidArgumentError(
            "where_document must be an object with one operator: $contains, $not_contains, $and or $or")
    (op, arg), = wd.items()
    if op in ("$contains", "$not_contains"):
        if not isinstance(arg, str):
            raise errors.InvalidArgumentError(f"where_document {op} needs a string")
    elif op in ("$and", "$or"):
        if not isinstance(arg, list) or not arg:
            raise errors.InvalidArgumentError(f"where_document {op} needs a non-empty list")
        for sub in arg:
            _check_where_document(sub)
    else:
        raise errors.InvalidArgumentError(
            f"where_document: unknown operator {op!r} (supported: $contains, $not_contains, $and, $or)")


def _document_matches(wd, doc):
    (op, arg), = wd.items()
    if op == "$contains":
        return doc is not None and arg in doc
    if op == "$not_contains":
        return doc is None or arg not in doc
    if op == "$and":
        return all(_document_matches(s, doc) for s in arg)
    return any(_document_matches(s, doc) for s in arg)


def _settings(metadata, configuration):
    """Sextant's collection settings (the server's PUT body) from Chroma's "hnsw:*" metadata and
    the `configuration` argument (Sextant's own settings; Chroma's hnsw "space" and
    "max_neighbors" are understood too). Returns (settings, whether the dimension is to be taken
    from the first vectors added)."""
    s = {}
    hnsw = {}
    md = metadata or {}
    if "hnsw:space" in md:
        s["metric"] = md["hnsw:space"]
    for key, name in (("hnsw:M", "M"), ("hnsw:construction_ef", "ef_construction"),
                      ("hnsw:search_ef", "ef_search")):
        if key in md:
            hnsw[name] = md[key]
    conf = dict(configuration or {})
    if "hnsw" in conf:
        h = dict(conf.pop("hnsw") or {})
        if "space" in h:
            s["metric"] = h.pop("space")
        if "max_neighbors" in h:
            h["M"] = h.pop("max_neighbors")
        hnsw.update(h)
    if hnsw:
        s["hnsw"] = hnsw
    s.update(conf)
    auto_dimension = "dimension" not in s and "embedding" not in s
    if auto_dimension:
        # Chroma's default: documents embedded by the built-in model. The dimension follows the
        # first vectors added instead when they come from elsewhere (an embedding_function or
        # the caller's own), while the collection is empty.
        s["embedding"] = {"model": DEFAULT_MODEL}
        s.setdefault("text", True)
    return s, auto_dimension


def _result_metadata(m):
    return m if m else None


def _stored_metadata(metadata, auto_dimension):
    """The collection metadata Sextant keeps: the user's, plus the lazy-dimension flag."""
    m = dict(metadata or {})
    if auto_dimension:
        m[AUTO_DIMENSION_KEY] = True
    return m


# --- collection --------------------------------------------------------------------------------


class Collection:
    """A collection, with Chroma's methods and result shapes (and Sextant's hybrid search,
    snapshots and stats). Get one from a client; do not construct it."""

    def __init__(self, client, backend, embedding_function):
        self._client = client
        self._embedding_function = embedding_function
        self._set_backend(backend)

    def _set_backend(self, backend):
        self._backend = backend
        self._config = backend.config()
        stored = dict(self._config.get("metadata") or {})
        self._auto_dimension = bool(stored.pop(AUTO_DIMENSION_KEY, False))
        self._metadata = stored or None

    # Chroma's properties
    @property
    def name(self):
        return self._backend.name

    @property
    def id(self):
        return self._backend.name

    @property
    def metadata(self):
        return self._metadata

    @property
    def configuration(self):
        """Sextant's settings of the collection (the server's reply form)."""
        return dict(self._config)

    @property
    def embedding_function(self):
        return self._embedding_function

    def __repr__(self):
        return f"Collection(name={self.name!r})"

    def __eq__(self, other):
        return isinstance(other, Collection) and other.name == self.name and other._client is self._client

    def __hash__(self):
        return hash(self.name)

    # --- writes

    def _prepare(self, ids, embeddings, metadatas, documents, images=None, uris=None):
        if images is not None or uris is not None:
            raise errors.InvalidArgumentError("images and uris are not supported; pass embeddings or documents")
        ids = _ids(ids)
        n = len(ids)
        if n == 0:
            raise errors.InvalidArgumentError("ids must not be empty")
        metadatas = _as_list(metadatas, "metadatas")
        documents = _as_list(documents, "documents")
        if embeddings is not None:
            vectors = _matrix(embeddings, "embeddings")
            if vectors.shape[0] != n:
                raise errors.InvalidArgumentError(f"embeddings has {vectors.shape[0]} entries, ids has {n}")
        else:
            vectors = None
        _same_length(n, metadatas=metadatas, documents=documents)
        if metadatas is not None:
            for i, m in enumerate(metadatas):
                if m is not None and not isinstance(m, dict):
                    raise errors.InvalidArgumentError(f"metadatas[{i}] must be a dict, got {type(m).__name__}")
        if documents is not None:
            for i, d in enumerate(documents):
                if d is not None and not isinstance(d, str):
                    raise errors.InvalidArgumentError(f"documents[{i}] must be a string, got {type(d).__name__}")
        if vectors is None and documents is not None and self._embedding_function is not None:
            if any(d is None for d in documents):
                raise errors.InvalidArgumentError("every point needs an embedding or a document")
            vectors = _matrix(self._embedding_function(documents), "embeddings from the embedding_function")
        if vectors is not None:
            self._adopt_dimension(vectors.shape[1])
        return ids, vectors, metadatas, documents

    def _adopt_dimension(self, dim):
        """Chroma's lazy dimension: an empty collection created without a dimension takes that
        of the first vectors added."""
        if not self._auto_dimension or dim == self._config.get("dimension"):
            return
        if self._backend.count(None) != 0:
            self._auto_dimension = False
            return
        settings = {k: v for k, v in self._config.items()
                    if k in ("metric", "index", "hnsw", "quantization", "segments", "text", "analyzer", "bm25")}
        settings["dimension"] = dim
        if self._metadata:
            settings["metadata"] = self._metadata
        self._set_backend(self._client._backend.recreate(self.name, settings))

    def add(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None):
        """Adds points; ids that exist already are left as they are (as Chroma)."""
        ids, vectors, metadatas, documents = self._prepare(ids, embeddings, metadatas, documents, images, uris)
        existing = {p[0] for p in self._backend.get(ids, False)}
        if existing:
            keep = [i for i, x in enumerate(ids) if x not in existing]
            if not keep:
                return
            ids = [ids[i] for i in keep]
            vectors = None if vectors is None else vectors[keep]
            metadatas = None if metadatas is None else [metadatas[i] for i in keep]
            documents = None if documents is None else [documents[i] for i in keep]
        self._backend.upsert(ids, vectors, documents, metadatas)

    def upsert(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None):
        """Inserts or replaces points, all or nothing."""
        ids, vectors, metadatas, documents = self._prepare(ids, embeddings, metadatas, documents, images, uris)
        self._backend.upsert(ids, vectors, documents, metadatas)

    def update(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None):
        """Changes the given fields of existing points (absent ids are skipped, as Chroma):
        metadata keys are merged (a key set to None is removed), documents and embeddings
        replaced. One atomic write."""
        ids, vectors, metadatas, documents = self._prepare(ids, embeddings, metadatas, documents, images, uris)
        old = {p[0]: p for p in self._backend.get(ids, True)}
        keep = [i for i, x in enumerate(ids) if x in old]
        if not keep:
            return
        dim = self._config.get("dimension", 0)
        has_model = "embedding" in self._config
        new_ids, new_vecs, new_docs, new_metas, reembed = [], [], [], [], False
        for i in keep:
            pid = ids[i]
            _, vec, doc, meta = old[pid]
            if documents is not None and documents[i] is not None:
                doc = documents[i]
                if vectors is None and has_model:
                    vec = None  # the collection embeds the new document
                    reembed = True
            if vectors is not None:
                vec = vectors[i]
            if metadatas is not None and metadatas[i] is not None:
                merged = dict(meta or {})
                for k, v in metadatas[i].items():
                    if v is None:
                        merged.pop(k, None)
                    else:
                        merged[k] = v
                meta = merged
            new_ids.append(pid)
            new_vecs.append(vec)
            new_docs.append(doc)
            new_metas.append(meta)
        if reembed:
            # Points whose documents changed are embedded by the collection; write them apart
            # from the rest only when both kinds occur (each write stays all or nothing).
            groups = [[j for j, v in enumerate(new_vecs) if v is None],
                      [j for j, v in enumerate(new_vecs) if v is not None]]
        else:
            groups = [list(range(len(new_ids)))]
        for g in groups:
            if not g:
                continue
            gv = None
            if new_vecs[g[0]] is not None and dim:
                gv = np.ascontiguousarray(np.stack([np.asarray(new_vecs[j], dtype=np.float32) for j in g]))
            self._backend.upsert([new_ids[j] for j in g], gv, [new_docs[j] for j in g],
                                 [new_metas[j] for j in g])

    def delete(self, ids=None, where=None, where_document=None):
        """Deletes by ids, by a metadata filter, by document content, or their intersection."""
        _check_where_document(where_document)
        if ids is None and where is None and where_document is None:
            raise errors.InvalidArgumentError("delete needs ids, where or where_document")
        if ids is not None:
            ids = _ids(ids)
        if where is not None and ids is None and where_document is None:
            self._backend.delete_by_filter(where)
            return
        if where is None and where_document is None:
            if ids:
                self._backend.delete(ids)
            return
        found = self.get(ids=ids, where=where, where_document=where_document, include=[])["ids"]
        if found:
            self._backend.delete(found)

    # --- reads

    def count(self):
        return self._backend.count(None)

    def _points(self, ids, where, where_document, limit, offset, include_vector):
        """Points as (id, vector, document, metadata), by ids (in their order) or in id order."""
        need_docs = where_document is not None
        if ids is not None:
            pts = self._backend.get(ids, include_vector)
            if where is not None:
                wanted = set(ids)
                passing = set()
                after = ""
                while True:
                    page, nxt = self._backend.scroll(after, _SCROLL_PAGE, where, False)
                    passing.update(p[0] for p in page if p[0] in wanted)
                    if nxt is None:
                        break
                    after = nxt
                pts = [p for p in pts if p[0] in passing]
            if need_docs:
                pts = [p for p in pts if _document_matches(where_document, p[2])]
            pts = pts[offset or 0:]
            return pts if limit is None else pts[:limit]
        out = []
        skip = offset or 0
        after = ""
        while limit is None or len(out) < limit:
            want = _SCROLL_PAGE if (need_docs or limit is None) else min(_SCROLL_PAGE, limit - len(out) + skip)
            page, nxt = self._backend.scroll(after, max(want, 1), where, include_vector)
            for p in page:
                if need_docs and not _document_matches(where_document, p[2]):
                    continue
                if skip:
                    skip -= 1
                    continue
                out.append(p)
                if limit is not None and len(out) == limit:
                    break
            if nxt is None:
                break
            after = nxt
        return out

    def get(self, ids=None, where=None, limit=None, offset=None, where_document=None,
            include=("metadatas", "documents")):
        """Points by ids (in the order given, absent ones skipped) and/or filters, in Chroma's
        flat shape: {"ids": [...], "embeddings", "documents", "metadatas", "include"}."""
        include = _check_include(include, _GET_INCLUDE, "get")
        _check_where_document(where_document)
        if ids is not None:
            ids = _as_list(ids, "ids")
        for name, v in (("limit", limit), ("offset", offset)):
            if v is not None and (not isinstance(v, int) or v < 0):
                raise errors.InvalidArgumentError(f"{name} must be a non-negative integer, got {v!r}")
        if where is not None and not isinstance(where, dict):
            raise errors.InvalidArgumentError(f"where must be a dict, got {type(where).__name__}")
        pts = self._points(ids, where, where_document, limit, offset, "embeddings" in include)
        return self._flat(pts, include)

    def _flat(self, pts, include):
        dim = self._config.get("dimension", 0)
        out = {"ids": [p[0] for p in pts], "embeddings": None, "documents": None, "metadatas": None,
               "uris": None, "data": None, "include": list(include), "included": list(include)}
        if "embeddings" in include:
            out["embeddings"] = (np.stack([p[1] for p in pts]) if pts else np.zeros((0, dim), dtype=np.float32))
        if "documents" in include:
            out["documents"] = [p[2] for p in pts]
        if "metadatas" in include:
            out["metadatas"] = [_result_metadata(p[3]) for p in pts]
        return out

    def peek(self, limit=10):
        return self.get(limit=limit, include=["embeddings", "documents", "metadatas"])

    def query(self, query_embeddings=None, query_texts=None, query_images=None, query_uris=None,
              n_results=10, where=None, where_document=None,
              include=("metadatas", "documents", "distances"), ids=None, *, mode=None, fusion=None,
              alpha=None, explain=False, ef=None, nprobe=None, rerank=None, rrf_k=None,
              vector_weight=None, text_weight=None, timeout_ms=None):
        """The n_results nearest points of each query: {"ids": [[...]], "distances": [[...]],
        "documents": [[...]], "metadatas": [[...]], "embeddings": [...], "include": [...]}, one
        inner list per query. Queries are embeddings, texts (embedded by the embedding_function,
        else by the collection's model), or both (hybrid). "distances" are Sextant's scores:
        distances for vector search (smaller is closer), BM25 or fused scores (larger is better)
        for keyword and hybrid search. Beyond Chroma: mode ("semantic", "keyword", "hybrid"),
        fusion ("rrf", "weighted", "dbsf"), alpha, explain (adds "explain": [[...]]), ef,
        nprobe, rerank, rrf_k, vector/text weights, timeout_ms."""
        if query_images is not None or query_uris is not None:
            raise errors.InvalidArgumentError("query_images and query_uris are not supported")
        include = _check_include(include, _QUERY_INCLUDE, "query")
        _check_where_document(where_document)
        if where is not None and not isinstance(where, dict):
            raise errors.InvalidArgumentError(f"where must be a dict, got {type(where).__name__}")
        if isinstance(n_results, bool) or not isinstance(n_results, int) or n_results < 1:
            raise errors.InvalidArgumentError(f"n_results must be a positive integer, got {n_results!r}")
        texts = _as_list(query_texts, "query_texts")
        if texts is not None:
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise errors.InvalidArgumentError(f"query_texts[{i}] must be a string")
        vectors = _matrix(query_embeddings, "query_embeddings")
        if vectors is None and texts is None:
            raise errors.InvalidArgumentError("query needs query_embeddings or query_texts")
        if texts is not None and vectors is None and self._embedding_function is not None and mode != "keyword":
            ef_ = self._embedding_function
            embed = getattr(ef_, "embed_query", None) or ef_
            vectors = _matrix(embed(texts), "embeddings from the embedding_function")
            if mode is None or mode == "semantic":
                texts = None
        if vectors is not None and texts is not None and len(texts) != vectors.shape[0]:
            raise errors.InvalidArgumentError(
                f"query_texts has {len(texts)} entries, query_embeddings has {vectors.shape[0]}")
        request = {"k": n_results}
        if where is not None:
            request["filter"] = where
        if mode is None and texts is not None and vectors is None and "embedding" in self._config:
            mode = "semantic"  # Chroma's query_texts: by meaning
        for key, value in (("mode", mode), ("fusion", fusion), ("alpha", alpha), ("ef", ef),
                           ("nprobe", nprobe), ("rerank", rerank), ("rrf_k", rrf_k),
                           ("vector_weight", vector_weight), ("text_weight", text_weight),
                           ("timeout_ms", timeout_ms)):
            if value is not None:
                request[key] = value
        if explain:
            request["explain"] = True
        fields = []
        if "documents" in include or where_document is not None:
            fields.append("document")
        if "metadatas" in include:
            fields.append("metadata")
        if "embeddings" in include:
            fields.append("vector")
        request["include"] = fields
        nq = vectors.shape[0] if vectors is not None else len(texts)
        rows = []
        if where_document is None:
            rows = self._backend.query(request, vectors, texts)
        else:
            for q in range(nq):
                qv = None if vectors is None else vectors[q:q + 1]
                qt = None if texts is None else texts[q:q + 1]
                k = n_results
                while True:
                    req = dict(request, k=k)
                    hits = self._backend.query(req, qv, qt)[0]
                    kept = [h for h in hits if _document_matches(where_document, h[2])]
                    if len(kept) >= n_results or len(hits) < k or k >= _MAX_K:
                        break
                    k = min(k * 4, _MAX_K)
                rows.append(kept[:n_results])
        dim = self._config.get("dimension", 0)
        out = {"ids": [[h[0] for h in r] for r in rows], "embeddings": None, "documents": None,
               "metadatas": None, "distances": None, "uris": None, "data": None,
               "include": list(include), "included": list(include)}
        if "distances" in include:
            out["distances"] = [[h[1] for h in r] for r in rows]
        if "documents" in include:
            out["documents"] = [[h[2] for h in r] for r in rows]
        if "metadatas" in include:
            out["metadatas"] = [[_result_metadata(h[3]) for h in r] for r in rows]
        if "embeddings" in include:
            out["embeddings"] = [np.stack([h[4] for h in r]) if r else np.zeros((0, dim), dtype=np.float32)
                                 for r in rows]
        if explain:
            out["explain"] = [[h[5] for h in r] for r in rows]
        return out

    # --- collection-level

    def modify(self, name=None, metadata=None, configuration=None):
        """Renames the collection and/or replaces its metadata. A rename copies the collection
        through a snapshot (on a server: needs an admin key)."""
        if configuration is not None:
            raise errors.InvalidArgumentError(
                "a collection's configuration cannot be changed; create a new collection")
        if metadata is not None and not isinstance(metadata, dict):
            raise errors.InvalidArgumentError("metadata must be a dict")
        if name is not None and name != self.name:
            self._set_backend(self._client._backend.rename(self.name, name))
        if metadata is not None:
            self._backend.set_metadata(_stored_metadata(metadata, self._auto_dimension))
            self._set_backend(self._backend)

    def snapshot(self, path):
        """A consistent copy of the collection: a directory `path` (embedded), or a snapshot
        of that name on the server (HttpClient). Restore with client.restore_snapshot."""
        return self._backend.snapshot(path)

    def stats(self):
        """Sextant's statistics: points, segments, memory, disk, WAL, indexing counters."""
        return self._backend.stats()

    def optimize(self, merge_all=False):
        """Waits until background indexing is done (embedded client only)."""
        self._backend.optimize(merge_all)


# --- client ------------------------------------------------------------------------------------


class Client:
    """Chroma's client API over a backend; see PersistentClient, EphemeralClient, HttpClient."""

    def __init__(self, backend):
        self._backend = backend

    @staticmethod
    def _check_name(name):
        if not isinstance(name, str):
            raise errors.InvalidArgumentError(f"a collection name must be a string, got {type(name).__name__}")

    def heartbeat(self):
        """Nanoseconds since the epoch, once the database (or server) answers."""
        self._backend.heartbeat()
        return time.time_ns()

    def get_version(self):
        from . import __version__
        return __version__

    def create_collection(self, name, configuration=None, metadata=None, embedding_function=None,
                          data_loader=None, get_or_create=False):
        """A new collection. metadata: Chroma's ("hnsw:space": "l2"|"ip"|"cosine", "hnsw:M",
        "hnsw:construction_ef", "hnsw:search_ef", and any of your own); configuration: Sextant's
        settings ({"dimension", "metric", "index", "hnsw", "quantization", "segments", "text",
        "analyzer", "bm25", "embedding"}). Without a dimension or an embedding model the
        collection embeds documents with the built-in model and takes the dimension of the
        first vectors added while it is empty."""
        self._check_name(name)
        if metadata is not None and not isinstance(metadata, dict):
            raise errors.InvalidArgumentError("metadata must be a dict")
        if configuration is not None and not isinstance(configuration, dict):
            raise errors.InvalidArgumentError("configuration must be a dict")
        settings, auto = _settings(metadata, configuration)
        stored = _stored_metadata(metadata, auto)
        if stored:
            settings["metadata"] = stored
        try:
            backend = self._backend.create(name, settings)
        except errors.AlreadyExistsError:
            if get_or_create:
                return self.get_collection(name, embedding_function=embedding_function)
            raise
        return Collection(self, backend, embedding_function)

    def get_collection(self, name, embedding_function=None, data_loader=None):
        self._check_name(name)
        return Collection(self, self._backend.get(name), embedding_function)

    def get_or_create_collection(self, name, configuration=None, metadata=None, embedding_function=None,
                                 data_loader=None):
        return self.create_collection(name, configuration=configuration, metadata=metadata,
                                      embedding_function=embedding_function, get_or_create=True)

    def list_collections(self, limit=None, offset=None):
        names = sorted(self._backend.list())
        names = names[offset or 0:]
        if limit is not None:
            names = names[:limit]
        return [self.get_collection(n) for n in names]

    def count_collections(self):
        return len(self._backend.list())

    def delete_collection(self, name):
        self._check_name(name)
        self._backend.drop(name)

    def reset(self):
        """Drops every collection."""
        for n in self._backend.list():
            self._backend.drop(n)
        return True

    def restore_snapshot(self, path, name):
        """A new collection `name` from a snapshot (a directory written by
        Collection.snapshot, or on a server a snapshot's name)."""
        self._check_name(name)
        return Collection(self, self._backend.restore(path, name), None)
