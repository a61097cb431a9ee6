"""The HTTP backend: a `sextant serve` server's JSON API (docs/openapi.json) over Python's
standard library (http.client), one keep-alive connection per thread."""

import http.client
import json
import ssl as ssl_module
import threading
import urllib.parse

import numpy as np

from . import errors

_MAX_BATCH = 10000  # the server's default --max-batch


def _q(s):
    return urllib.parse.quote(s, safe="")


def _f32(x):
    """A score or vector value as the float32 the server holds (it prints them as JSON numbers)."""
    return float(np.float32(x))


def _point(j):
    vec = j.get("vector")
    if vec is not None:
        vec = np.asarray(vec, dtype=np.float32)
    return j["id"], vec, j.get("document"), j.get("metadata") or {}


def _hit(j):
    vec = j.get("vector")
    if vec is not None:
        vec = np.asarray(vec, dtype=np.float32)
    return j["id"], _f32(j["score"]), j.get("document"), j.get("metadata"), vec, j.get("explain")


def _check_finite(vectors, message):
    """JSON has no NaN or infinity: say so as the embedded client does, before sending."""
    if vectors is None or vectors.size == 0:
        return
    bad = ~np.isfinite(vectors)
    if bad.any():
        i, d = (int(v) for v in np.argwhere(bad)[0])
        v = vectors[i, d]
        raise errors.InvalidArgumentError(message(i, d, "NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf")))


class _Connection:
    def __init__(self, host, port, use_ssl, headers, api_key, timeout, ssl_context):
        self.host, self.port, self.use_ssl, self.timeout = host, port, use_ssl, timeout
        self.ssl_context = ssl_context or (ssl_module.create_default_context() if use_ssl else None)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.headers.update(headers or {})
        if api_key:
            self.headers["Authorization"] = "Bearer " + api_key
        self._local = threading.local()

    def _conn(self, fresh=False):
        c = getattr(self._local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            if self.use_ssl:
                c = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ssl_context)
            else:
                c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = c
        return c

    def request(self, method, path, body=None, ok404=False):
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        for attempt in (0, 1):
            c = self._conn(fresh=attempt == 1)
            try:
                c.request(method, path, body=data, headers=self.headers)
                r = c.getresponse()
                raw = r.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError) as e:
                # A keep-alive connection the server closed: once more on a new one.
                if attempt == 1:
                    raise errors.UnavailableError(f"{method} {path}: {e}") from None
            except OSError as e:
                c.close()  # not left half-open (a TLS server would wait out its handshake)
                self._local.conn = None
                raise errors.UnavailableError(f"{method} {path}: cannot reach {self.host}:{self.port}: {e}") from None
        try:
            reply = json.loads(raw) if raw else {}
        except ValueError:
            reply = {"error": {"code": "internal", "message": raw[:200].decode(errors="replace")}}
        if r.status >= 400:
            if ok404 and r.status == 404:
                return None
            err = reply.get("error", {}) if isinstance(reply, dict) else {}
            code = err.get("code", "")
            cls = errors.error_class(code)
            if cls is errors.SextantError:
                if r.status in (429, 503):
                    cls = errors.UnavailableError
                elif r.status == 401:
                    cls = errors.AuthenticationError
                elif r.status == 403:
                    cls = errors.AuthorizationError
            raise cls(err.get("message", f"HTTP {r.status}"))
        return reply


class CollectionBackend:
    def __init__(self, conn, prefix, name, config):
        self._conn = conn
        self._name = name
        self._path = prefix + "/collections/" + _q(name)
        self._config = config

    @property
    def name(self):
        return self._name

    def config(self):
        return {k: v for k, v in self._config.items() if k not in ("created", "points", "stats")}

    def upsert(self, ids, vectors, documents, metadatas):
        if vectors is not None and vectors.shape[0] != len(ids):
            raise errors.InvalidArgumentError(f"embeddings has {vectors.shape[0]} rows, ids has {len(ids)}")
        for name, values in (("documents", documents), ("metadatas", metadatas)):
            if values is not None and len(values) != len(ids):
                raise errors.InvalidArgumentError(f"{name} has {len(values)} entries, ids has {len(ids)}")
        _check_finite(vectors, lambda i, d, v: f"point {i} (id '{ids[i]}'): vector value {v} at dimension {d} "
                                               "(must be finite)")
        rows = vectors.tolist() if vectors is not None else None
        acked = 0
        for start in range(0, len(ids), _MAX_BATCH):
            points = []
            for i in range(start, min(start + _MAX_BATCH, len(ids))):
                p = {"id": ids[i]}
                if rows is not None:
                    p["vector"] = rows[i]
                if documents is not None and documents[i] is not None:
                    p["document"] = documents[i]
                if metadatas is not None and metadatas[i] is not None:
                    p["metadata"] = metadatas[i]
                points.append(p)
            try:
                acked += self._conn.request("POST", self._path + "/points", {"points": points})["acked"]
            except ValueError as e:
                if isinstance(e, errors.SextantError):
                    raise
                raise errors.InvalidArgumentError(f"not JSON: {e}") from None
        return acked

    def set_metadata(self, metadata):
        self._config = self._conn.request("PATCH", self._path, {"metadata": metadata})

    def get(self, ids, include_vector):
        ids = list(ids)
        out = []
        for start in range(0, len(ids), _MAX_BATCH):  # one request per --max-batch ids
            j = self._conn.request("POST", self._path + "/points/get",
                                   {"ids": ids[start:start + _MAX_BATCH], "vectors": bool(include_vector)})
            out += [_point(p) for p in j.get("points", [])]
        return out

    def scroll(self, after, limit, filter, include_vector):
        body = {"limit": limit, "vectors": include_vector}
        if after:
            body["after"] = after
        if filter is not None:
            body["filter"] = filter
        j = self._conn.request("POST", self._path + "/scroll", body)
        return [_point(p) for p in j.get("points", [])], j.get("next")

    def delete(self, ids):
        return self._conn.request("POST", self._path + "/points/delete", {"ids": list(ids)})["deleted"]

    def delete_by_filter(self, filter):
        return self._conn.request("POST", self._path + "/points/delete", {"filter": filter})["deleted"]

    def count(self, filter):
        if filter is None:
            return self._conn.request("GET", self._path + "/count")["count"]
        return self._conn.request("POST", self._path + "/count", {"filter": filter})["count"]

    def query(self, request, vectors, texts):
        n = vectors.shape[0] if vectors is not None else len(texts)
        _check_finite(vectors, lambda i, d, v: f"query {i}: field 'vector': element {d} is not a finite float32 number")
        rows = vectors.tolist() if vectors is not None else None
        out = []
        for i in range(n):
            body = dict(request)
            if rows is not None:
                body["vector"] = rows[i]
            if texts is not None:
                body["text"] = texts[i]
            j = self._conn.request("POST", self._path + "/query", body)
            out.append([_hit(h) for h in j["results"]])
        return out

    def snapshot(self, name):
        j = self._conn.request("POST", self._path + "/snapshots", {"snapshot": str(name)})
        return j.get("snapshot", name)

    def stats(self):
        return self._conn.request("GET", self._path).get("stats", {})

    def optimize(self, merge_all):
        pass  # the server indexes in the background; nothing to wait for over HTTP


class HttpClientBackend:
    def __init__(self, host, port, ssl=False, headers=None, tenant="default_tenant", database="default_database",
                 api_key=None, timeout=60.0, ssl_context=None):
        if tenant in (None, "default_tenant"):
            tenant = "default"
        if database in (None, "default_database"):
            database = "default"
        self._conn = _Connection(host, port, ssl, headers, api_key, timeout, ssl_context)
        self._prefix = f"/v1/tenants/{_q(tenant)}/databases/{_q(database)}"
        self._tenant, self._database = tenant, database

    def heartbeat(self):
        self._conn.request("GET", "/healthz")

    def create(self, name, settings):
        j = self._conn.request("PUT", self._prefix + "/collections/" + _q(name), settings)
        if j.get("created") is False:
            raise errors.AlreadyExistsError(f"collection '{name}' already exists")
        return CollectionBackend(self._conn, self._prefix, name, j)

    def get(self, name):
        j = self._conn.request("GET", self._prefix + "/collections/" + _q(name))
        return CollectionBackend(self._conn, self._prefix, name, j)

    def list(self):
        j = self._conn.request("GET", self._prefix + "/collections")
        return [c["name"] for c in j.get("collections", [])]

    def drop(self, name):
        self._conn.request("DELETE", self._prefix + "/collections/" + _q(name))

    def recreate(self, name, settings):
        self.drop(name)
        return self.create(name, settings)

    def restore(self, snapshot, name):
        self._conn.request("POST", f"{self._prefix}/snapshots/{_q(str(snapshot))}/restore", {"collection": name})
        return self.get(name)

    def rename(self, old, new):
        import uuid
        snap = f"rename-{uuid.uuid4().hex[:12]}"
        self._conn.request("POST", f"{self._prefix}/collections/{_q(old)}/snapshots", {"snapshot": snap})
        try:
            self._conn.request("POST", f"{self._prefix}/snapshots/{snap}/restore", {"collection": new})
        finally:
            self._conn.request("DELETE", f"{self._prefix}/snapshots/{snap}")
        self.drop(old)
        return self.get(new)
