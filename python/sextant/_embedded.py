"""The embedded backend: the C++ library in-process (sextant._core)."""

import json
import os
import shutil
import tempfile
import threading
import weakref

from . import errors

try:
    from . import _core
except ImportError as e:  # the package without its extension (pybind11 was missing at build)
    _core = None
    _IMPORT_ERROR = e


def _require_core():
    if _core is None:
        raise ImportError(f"sextant's embedded database is not built (sextant._core: {_IMPORT_ERROR}); "
                          "use HttpClient, or build with pybind11-dev and python3-dev installed")
    return _core


def _metas(metadatas):
    if metadatas is None:
        return None
    return [None if m is None else json.dumps(m) for m in metadatas]


class CollectionBackend:
    def __init__(self, c):
        self._c = c

    @property
    def name(self):
        return self._c.name

    def config(self):
        return json.loads(self._c.config_json())

    def set_metadata(self, metadata):
        self._c.set_metadata(json.dumps(metadata))

    def upsert(self, ids, vectors, documents, metadatas):
        return self._c.upsert(ids, vectors, documents, _metas(metadatas))

    def get(self, ids, include_vector):
        return self._c.get(list(ids), include_vector)

    def scroll(self, after, limit, filter, include_vector):
        return self._c.scroll(after, limit, None if filter is None else json.dumps(filter), include_vector)

    def delete(self, ids):
        return self._c.delete(list(ids))

    def delete_by_filter(self, filter):
        return self._c.delete_by_filter(json.dumps(filter))

    def count(self, filter):
        return self._c.count(None if filter is None else json.dumps(filter))

    def query(self, request, vectors, texts):
        # The request goes as a dict (no JSON text); hits come back as tuples with dicts.
        if texts is None:
            return self._c.query(request, vectors)
        rows = []
        for i, t in enumerate(texts):
            rows += self._c.query(dict(request, text=t), None if vectors is None else vectors[i:i + 1])
        return rows

    def snapshot(self, path):
        self._c.snapshot(os.fspath(path))
        return os.fspath(path)

    def stats(self):
        return json.loads(self._c.stats_json())

    def optimize(self, merge_all):
        self._c.optimize(merge_all)


# One Database per directory per process (the directory is locked while open): clients of the
# same path share it, as Chroma's clients of one path share their system.
_open = weakref.WeakValueDictionary()
_open_lock = threading.Lock()


class _Shared:
    def __init__(self, db, path):
        self.db = db
        self.path = path

    def __del__(self):
        try:
            self.db.close()
        except Exception:
            pass


class ClientBackend:
    def __init__(self, path, relaxed=False, temporary=False):
        core = _require_core()
        self.path = os.path.abspath(os.fspath(path))
        with _open_lock:
            shared = _open.get(self.path)
            if shared is None:
                shared = _Shared(core.Database(self.path, relaxed), self.path)
                _open[self.path] = shared
        self._shared = shared
        self._db = shared.db
        if temporary:
            weakref.finalize(self, shutil.rmtree, self.path, True)

    def heartbeat(self):
        self._db.list_collections()

    def create(self, name, settings):
        return CollectionBackend(self._db.create_collection(name, json.dumps(settings)))

    def get(self, name):
        return CollectionBackend(self._db.get_collection(name))

    def list(self):
        return self._db.list_collections()

    def drop(self, name):
        self._db.drop_collection(name)

    def recreate(self, name, settings):
        self._db.drop_collection(name)
        return self.create(name, settings)

    def restore(self, path, name):
        return CollectionBackend(self._db.restore_snapshot(os.fspath(path), name))

    def rename(self, old, new):
        src = self._db.get_collection(old)
        tmp = tempfile.mkdtemp(prefix=".rename-", dir=self.path)
        snap = os.path.join(tmp, "snapshot")
        try:
            src.snapshot(snap)
            c = self._db.restore_snapshot(snap, new)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._db.drop_collection(old)
        return CollectionBackend(c)
