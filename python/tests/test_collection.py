"""The Chroma surface, each test against the embedded and the HTTP client (fixture `client`)."""

import numpy as np
import pytest

import sextant
from sextant import errors


def test_getting_started(client):
    # Chroma's getting-started guide, unchanged but for the import.
    collection = client.create_collection(name="my_collection")
    collection.add(documents=["This is a document about pineapple", "This is a document about oranges"],
                   ids=["id1", "id2"])
    results = collection.query(query_texts=["This is a query document about hawaii"], n_results=2)
    # (potion-base-4M, a small static model, puts hawaii nearer oranges than pineapple)
    assert set(results["ids"][0]) == {"id1", "id2"}
    assert results["documents"][0][0] == {"id1": "This is a document about pineapple",
                                          "id2": "This is a document about oranges"}[results["ids"][0][0]]
    assert len(results["distances"][0]) == 2 and results["distances"][0][0] <= results["distances"][0][1]
    assert results["metadatas"] == [[None, None]]
    assert results["include"] == ["metadatas", "documents", "distances"]


def test_feline_by_meaning(client):
    c = client.create_collection("pets")
    c.add(ids=["1", "2", "3", "4"], documents=["The dog barked at the mailman.", "The feline is sleeping on the sofa.",
                                               "I love eating fresh apples.", "Javascript is a programming language."])
    assert c.query(query_texts=["Where is the cat?"], n_results=1)["ids"] == [["2"]]
    kw = c.query(query_texts=["apples"], n_results=1, mode="keyword")
    assert kw["ids"] == [["3"]]
    hy = c.query(query_texts=["Where is the cat?"], n_results=2, mode="hybrid", fusion="rrf", explain=True)
    assert hy["ids"][0][0] == "2" and "fusion" in hy["explain"][0][0]


def test_client_methods(client):
    assert isinstance(client.heartbeat(), int)
    assert client.count_collections() == 0
    a = client.create_collection("a", metadata={"topic": "x", "hnsw:space": "cosine"})
    with pytest.raises(errors.AlreadyExistsError):
        client.create_collection("a")
    assert client.create_collection("a", get_or_create=True).name == "a"
    b = client.get_or_create_collection("b", configuration={"dimension": 3})
    assert b.configuration["dimension"] == 3
    assert [c.name for c in client.list_collections()] == ["a", "b"]
    assert [c.name for c in client.list_collections(limit=1, offset=1)] == ["b"]
    assert client.count_collections() == 2
    got = client.get_collection("a")
    assert got.metadata == {"topic": "x", "hnsw:space": "cosine"}
    assert got.configuration["metric"] == "cosine"
    assert got == a
    client.delete_collection("a")
    with pytest.raises(errors.NotFoundError):
        client.get_collection("a")
    with pytest.raises(ValueError):  # Chroma code catches ValueError
        client.delete_collection("a")
    assert client.count_collections() == 1
    # metadata is the collection's own (its config), not a hidden collection beside it
    assert [c.name for c in client.list_collections()] == ["b"]
    assert "metadata" not in b.configuration


def test_collection_metadata_rules_and_lazy_dimension(client):
    for bad, words in (({"a": [1, 2]}, "metadata 'a' must be a string, a finite number or a boolean"),
                       ({"a": {"b": 1}}, "metadata 'a' must be"), ({"": 1}, "empty key"),
                       ({"a": "x" * 70000}, "at most 65536 bytes")):
        with pytest.raises(ValueError, match=words):
            client.create_collection("bad", metadata=bad, configuration={"dimension": 2})
        assert client.count_collections() == 0
    c = client.create_collection("m", metadata={"s": "x", "n": 1.5, "i": -3, "t": True})
    assert c.metadata == {"s": "x", "n": 1.5, "i": -3, "t": True}
    with pytest.raises(ValueError, match="metadata 'bad' must be"):
        c.modify(metadata={"bad": None})
    assert client.get_collection("m").metadata == {"s": "x", "n": 1.5, "i": -3, "t": True}
    # created without a dimension: the first vectors give it (the flag lives in the metadata,
    # hidden from Collection.metadata), and the metadata survives the re-creation
    c.add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    got = client.get_collection("m")
    assert got.configuration["dimension"] == 3 and got.metadata == {"s": "x", "n": 1.5, "i": -3, "t": True}
    assert got.configuration["metadata"] == got.metadata
    empty = client.create_collection("e")
    assert empty.metadata is None and empty.configuration["metadata"] == {"sextant:auto_dimension": True}
    empty.modify(metadata={"k": "v"})
    assert client.get_collection("e").metadata == {"k": "v"}
    assert client.get_collection("e").configuration["metadata"] == {"k": "v", "sextant:auto_dimension": True}


def test_get_many_ids_in_one_call(client):
    c = client.create_collection("g", configuration={"dimension": 2})
    n = 2500
    c.add(ids=[f"p{i}" for i in range(n)], embeddings=np.arange(2 * n, dtype=np.float32).reshape(n, 2))
    want = [f"p{i}" for i in range(n - 1, -1, -3)] + ["absent"]
    calls = []
    conn = getattr(client._backend, "_conn", None)
    if conn is not None:  # HttpClient: one request for the whole list
        real = conn.request
        conn.request = lambda method, path, *a, **k: calls.append((method, path)) or real(method, path, *a, **k)
    got = c.get(ids=want, include=["embeddings"])
    if conn is not None:
        conn.request = real
        assert len(calls) == 1 and calls[0][1].endswith("/points/get"), calls
    assert got["ids"] == want[:-1]
    assert got["embeddings"][0].tolist() == [2 * (n - 1), 2 * (n - 1) + 1]


def test_hnsw_metadata_maps_to_settings(client):
    c = client.create_collection("h", metadata={"hnsw:space": "ip", "hnsw:M": 8, "hnsw:construction_ef": 50,
                                                "hnsw:search_ef": 20}, configuration={"dimension": 2})
    assert c.configuration["metric"] == "ip"
    assert c.configuration["hnsw"] == {"M": 8, "ef_construction": 50, "ef_search": 20}
    c2 = client.create_collection("h2", configuration={"dimension": 4, "index": "sq8", "hnsw": {"space": "cosine"}})
    assert c2.configuration["index"] == "sq8" and c2.configuration["metric"] == "cosine"


def vecs(n, d=4, seed=0):
    return np.random.default_rng(seed).random((n, d), dtype=np.float32)


def test_add_get_update_upsert_delete(client):
    c = client.create_collection("c", configuration={"dimension": 4, "metric": "l2", "text": True})
    v = vecs(5)
    ids = [f"p{i}" for i in range(5)]
    c.add(ids=ids, embeddings=v, metadatas=[{"i": i, "even": i % 2 == 0} for i in range(5)],
          documents=[f"doc number {i}" for i in range(5)])
    assert c.count() == 5
    # add leaves existing ids alone
    c.add(ids=["p0", "p9"], embeddings=vecs(2, seed=5), documents=["changed", "new"])
    assert c.get(ids=["p0"])["documents"] == ["doc number 0"]
    assert c.count() == 6
    g = c.get(ids=["p3", "nope", "p1"], include=["embeddings", "documents", "metadatas"])
    assert g["ids"] == ["p3", "p1"]
    np.testing.assert_array_equal(g["embeddings"], v[[3, 1]])
    assert g["metadatas"] == [{"i": 3, "even": False}, {"i": 1, "even": False}]
    assert c.get(where={"even": True}, include=[])["ids"] == ["p0", "p2", "p4"]
    assert c.get(where={"i": {"$gte": 1}}, limit=2, offset=1)["ids"] == ["p2", "p3"]
    assert c.get(where_document={"$contains": "number 3"})["ids"] == ["p3"]
    assert c.get(where_document={"$not_contains": "number"})["ids"] == ["p9"]
    assert c.get(where_document={"$or": [{"$contains": "1"}, {"$contains": "2"}]})["ids"] == ["p1", "p2"]
    assert c.get(ids=["p1", "p2"], where={"i": 2})["ids"] == ["p2"]
    # update: metadata merged (None removes a key), document replaced, vector kept
    c.update(ids=["p1", "missing"], metadatas=[{"even": None, "new": "x"}, {"a": 1}], documents=["one", "zzz"])
    g = c.get(ids=["p1"], include=["metadatas", "documents", "embeddings"])
    assert g["metadatas"] == [{"i": 1, "new": "x"}] and g["documents"] == ["one"]
    np.testing.assert_array_equal(g["embeddings"][0], v[1])
    assert c.count() == 6
    c.upsert(ids=["p1", "p7"], embeddings=vecs(2, seed=9), metadatas=[{"k": 1}, None])
    assert c.get(ids=["p1"])["metadatas"] == [{"k": 1}] and c.get(ids=["p1"])["documents"] == [None]
    assert c.count() == 7
    # peek
    p = c.peek(limit=3)
    assert p["ids"] == ["p0", "p1", "p2"] and p["embeddings"].shape == (3, 4)
    # query shapes
    r = c.query(query_embeddings=[v[2], v[4]], n_results=2, include=["distances", "embeddings", "metadatas"])
    assert [row[0] for row in r["ids"]] == ["p2", "p4"]
    assert r["distances"][0][0] == 0.0 and r["documents"] is None
    assert r["embeddings"][0].shape == (2, 4)
    r = c.query(query_embeddings=v[2], n_results=3, where={"even": True}, where_document={"$contains": "doc"})
    assert r["ids"] == [["p2", "p0", "p4"]] or set(r["ids"][0]) == {"p0", "p2", "p4"}
    # delete by ids, where, where_document
    c.delete(ids=["p0"])
    c.delete(where={"k": 1})
    c.delete(where_document={"$contains": "number 4"})
    assert c.get(include=[])["ids"] == ["p2", "p3", "p7", "p9"]
    c.delete(ids=["p2", "p3"], where={"i": 3})
    assert c.get(include=[])["ids"] == ["p2", "p7", "p9"]


def test_modify_snapshot_stats(client, tmpdir_path):
    c = client.create_collection("m", metadata={"a": 1}, configuration={"dimension": 2})
    c.add(ids=["x", "y"], embeddings=[[1, 0], [0, 1]])
    c.modify(metadata={"b": 2})
    assert client.get_collection("m").metadata == {"b": 2}
    c.modify(name="m2")
    assert c.name == "m2" and c.count() == 2
    assert [x.name for x in client.list_collections()] == ["m2"]
    assert client.get_collection("m2").metadata == {"b": 2}
    st = c.stats()
    assert st["points"] == 2
    import os
    from sextant._http import HttpClientBackend
    target = "m2-snap" if isinstance(client._backend, HttpClientBackend) else os.path.join(tmpdir_path, "snap")
    name = c.snapshot(target)
    r = client.restore_snapshot(name, "restored")
    assert r.count() == 2 and r.get(ids=["y"], include=["embeddings"])["embeddings"].tolist() == [[0, 1]]


def test_embedding_function(client):
    calls = []

    def ef(texts):
        calls.append(list(texts))
        return [[float(len(t)), 1.0, 0.0] for t in texts]

    c = client.create_collection("ef", embedding_function=ef)
    c.add(ids=["a", "b"], documents=["aa", "bbbbbb"])
    assert c.configuration["dimension"] == 3
    assert c.query(query_texts=["bbbbb"], n_results=1)["ids"] == [["b"]]
    assert calls == [["aa", "bbbbbb"], ["bbbbb"]]
    # the caller's own 5-d vectors in a default collection set its dimension
    d = client.create_collection("own")
    d.add(ids=["z"], embeddings=[[1, 2, 3, 4, 5]])
    assert client.get_collection("own").configuration["dimension"] == 5
    assert d.query(query_embeddings=[[1, 2, 3, 4, 5]], n_results=1)["ids"] == [["z"]]


def test_default_embedding_function_matches_collection():
    pytest.importorskip("sextant._core")
    ef = sextant.DefaultEmbeddingFunction()
    e = ef(["hello world", "cats"])
    assert e.dtype == np.float32 and e.shape == (2, 128)
    np.testing.assert_array_equal(sextant.embed(["hello world"])[0], e[0])
