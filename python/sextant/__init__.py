"""Sextant, a vector database with hybrid search, with the API Chroma users know.

    import sextant
    client = sextant.PersistentClient(path="./data")        # or EphemeralClient(), HttpClient(...)
    collection = client.create_collection("docs")
    collection.add(ids=["1", "2"], documents=["The dog barked.", "The feline sleeps."])
    collection.query(query_texts=["Where is the cat?"], n_results=1)

The embedded clients run the C++ library in-process (sextant._core); HttpClient talks to
`sextant serve` with Python's standard library only.
"""

import os
import tempfile

from . import errors
from ._api import Client as ClientAPI, Collection, DefaultEmbeddingFunction
from ._http import HttpClientBackend

__version__ = "0.1.0"
__all__ = ["PersistentClient", "EphemeralClient", "Client", "HttpClient", "ClientAPI", "Collection",
           "DefaultEmbeddingFunction", "errors", "embed"]


def PersistentClient(path="./sextant_data", settings=None, tenant=None, database=None, durable=True):
    """A client of the database in directory `path` (created if missing), in this process.
    durable=False leaves flushing the log to the OS (faster bulk loads; a crash may lose the
    latest writes, never part of one)."""
    from ._embedded import ClientBackend
    return ClientAPI(ClientBackend(path, relaxed=not durable))


def EphemeralClient(settings=None, tenant=None, database=None):
    """A client of a new database in a temporary directory, removed when the client goes."""
    from ._embedded import ClientBackend
    path = tempfile.mkdtemp(prefix="sextant-")
    return ClientAPI(ClientBackend(path, relaxed=True, temporary=True))


def HttpClient(host="localhost", port=8000, ssl=False, headers=None, settings=None, tenant="default_tenant",
               database="default_database", api_key=None, timeout=60.0, ssl_context=None):
    """A client of a `sextant serve` server. api_key is sent as 'Authorization: Bearer KEY';
    tenant and database choose /v1/tenants/T/databases/D (Chroma's default_tenant and
    default_database are Sextant's default ones)."""
    return ClientAPI(HttpClientBackend(host, port, ssl=ssl, headers=headers, tenant=tenant, database=database,
                                    api_key=api_key, timeout=timeout, ssl_context=ssl_context))


def Client(settings=None, tenant=None, database=None):
    """Chroma's chromadb.Client(): an ephemeral in-process database (see EphemeralClient)."""
    return EphemeralClient(settings, tenant, database)


def embed(texts, model="potion-base-4M", query=False):
    """Embeddings of texts by a built-in or pulled model, as an N x dimension float32 array."""
    from ._embedded import _require_core
    return _require_core().embed(list(texts), model, query)
