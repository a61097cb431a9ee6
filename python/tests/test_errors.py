"""Bad input: clear exceptions, and nothing half-written."""

import math

import numpy as np
import pytest

from sextant import errors


@pytest.fixture
def col(client):
    c = client.create_collection("e", configuration={"dimension": 3})
    c.add(ids=["a"], embeddings=[[1, 0, 0]], metadatas=[{"n": 1}])
    return c


def unchanged(c):
    g = c.get(include=["embeddings", "metadatas"])
    assert g["ids"] == ["a"] and g["metadatas"] == [{"n": 1}]
    assert g["embeddings"].tolist() == [[1, 0, 0]]


def test_wrong_dimension(col):
    with pytest.raises(ValueError, match="rows of different lengths"):
        col.add(ids=["b", "c"], embeddings=[[1, 0, 0], [1, 0]])
    with pytest.raises(ValueError, match="dimension"):
        col.add(ids=["b", "c"], embeddings=[[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="dimension"):
        col.upsert(ids=["b", "c"], embeddings=np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension"):
        col.query(query_embeddings=[[1, 0]])
    unchanged(col)


def test_mismatched_lengths(col):
    with pytest.raises(ValueError, match="metadatas has 1 entries, ids has 2"):
        col.upsert(ids=["b", "c"], embeddings=[[1, 0, 0], [0, 1, 0]], metadatas=[{"x": 1}])
    with pytest.raises(ValueError, match="embeddings has 1 entries, ids has 2"):
        col.upsert(ids=["b", "c"], embeddings=[[1, 0, 0]])
    with pytest.raises(ValueError, match="documents has 3 entries"):
        col.upsert(ids=["b", "c"], embeddings=[[1, 0, 0], [0, 1, 0]], documents=["x", "y", "z"])
    unchanged(col)


def test_nan_and_inf(col):
    with pytest.raises(ValueError, match="NaN"):
        col.upsert(ids=["b", "a"], embeddings=[[1, 0, 0], [math.nan, 0, 0]], metadatas=[{"n": 5}, {"n": 5}])
    with pytest.raises(ValueError):
        col.upsert(ids=["b"], embeddings=np.array([[np.inf, 0, 0]], dtype=np.float32))
    with pytest.raises(ValueError):
        col.query(query_embeddings=[[math.nan, 0, 0]])
    unchanged(col)


def test_duplicate_ids_and_bad_types(col):
    with pytest.raises(errors.DuplicateIDError, match="'b'"):
        col.upsert(ids=["b", "b"], embeddings=[[1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match="ids must not be empty"):
        col.add(ids=[], embeddings=[])
    with pytest.raises(ValueError, match=r"ids\[0\] must be a string"):
        col.add(ids=[1], embeddings=[[1, 0, 0]])
    with pytest.raises(ValueError, match=r"metadatas\[0\] must be a dict"):
        col.add(ids=["b"], embeddings=[[1, 0, 0]], metadatas=["x"])
    with pytest.raises(ValueError, match="metadata"):
        col.add(ids=["b"], embeddings=[[1, 0, 0]], metadatas=[{"x": {"nested": 1}}])
    unchanged(col)


def test_unknown_include(col):
    with pytest.raises(ValueError, match="unknown include field 'vectors'"):
        col.get(include=["vectors"])
    with pytest.raises(ValueError, match="unknown include field 'distances'"):
        col.get(include=["distances"])
    with pytest.raises(ValueError, match="unknown include field"):
        col.query(query_embeddings=[[1, 0, 0]], include=["scores"])


def test_bad_filters(col):
    with pytest.raises(ValueError, match=r"\$foo"):
        col.get(where={"n": {"$foo": 1}})
    with pytest.raises(ValueError, match=r"\$foo"):
        col.query(query_embeddings=[[1, 0, 0]], where={"n": {"$foo": 1}})
    with pytest.raises(ValueError, match=r"\$foo"):
        col.delete(where={"n": {"$foo": 1}})
    with pytest.raises(ValueError, match="where_document: unknown operator"):
        col.get(where_document={"$regex": "x"})
    with pytest.raises(ValueError, match="needs a string"):
        col.query(query_embeddings=[[1, 0, 0]], where_document={"$contains": 3})
    unchanged(col)


def test_bad_query_arguments(col):
    with pytest.raises(ValueError, match="n_results"):
        col.query(query_embeddings=[[1, 0, 0]], n_results=0)
    with pytest.raises(ValueError, match="query needs"):
        col.query()
    with pytest.raises(ValueError, match="mode"):
        col.query(query_embeddings=[[1, 0, 0]], mode="telepathic")
    with pytest.raises(ValueError):
        col.query(query_embeddings=[[1, 0, 0]], n_results=10**7)
    with pytest.raises(ValueError, match="delete needs"):
        col.delete()


def test_bad_collection_settings(client):
    with pytest.raises(ValueError, match="metric"):
        client.create_collection("x", metadata={"hnsw:space": "l7"})
    with pytest.raises(ValueError, match="hnsw.M"):
        client.create_collection("x", configuration={"dimension": 3, "hnsw": {"M": 100000}})
    with pytest.raises(ValueError):
        client.create_collection("bad name!")
    assert client.count_collections() == 0


def test_missing_collection(client):
    with pytest.raises(errors.NotFoundError, match="nope"):
        client.get_collection("nope")


def test_query_values_must_be_json(client):
    col = client.create_collection("j", configuration={"dimension": 2})
    col.add(ids=["a"], embeddings=[[1, 0]], metadatas=[{"n": 1}])
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            col.query(query_embeddings=[[1, 0]], where={"n": bad})
    with pytest.raises(ValueError, match="alpha"):
        col.query(query_embeddings=[[1, 0]], alpha=2.0)
    # big integers and nested operators go through unchanged
    assert col.query(query_embeddings=[[1, 0]], where={"n": {"$lt": 2**63}}, n_results=1)["ids"] == [["a"]]
    assert col.query(query_embeddings=[[1, 0]], where={"$and": [{"n": 1}, {"n": {"$in": [1, 2]}}]},
                     include=["metadatas"])["metadatas"] == [[{"n": 1}]]
