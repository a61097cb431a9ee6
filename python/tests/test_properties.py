"""Property tests: the same random operations through the embedded and the HTTP client give
exactly the same results (ids, distances, documents, metadata, vectors, errors)."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import sextant

from conftest import HAVE_CORE

pytestmark = pytest.mark.skipif(not HAVE_CORE, reason="sextant._core not built")

IDS = [f"id{i}" for i in range(8)]
WORDS = ["red", "green", "blue", "cat", "dog"]

vector = st.lists(st.integers(-3, 3).map(float), min_size=3, max_size=3)
metadata = st.one_of(st.none(), st.fixed_dictionaries({"g": st.integers(0, 3)}, optional={"w": st.sampled_from(WORDS)}))
document = st.one_of(st.none(), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join))
where = st.one_of(st.none(), st.builds(lambda g: {"g": g}, st.integers(0, 3)),
                  st.builds(lambda g: {"g": {"$gte": g}}, st.integers(0, 3)),
                  st.builds(lambda w: {"w": {"$in": [w]}}, st.sampled_from(WORDS)))
where_document = st.one_of(st.none(), st.builds(lambda w: {"$contains": w}, st.sampled_from(WORDS)),
                           st.builds(lambda w: {"$not_contains": w}, st.sampled_from(WORDS)))

upsert = st.tuples(st.just("upsert"), st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True)).flatmap(
    lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.lists(vector, min_size=len(t[1]), max_size=len(t[1])),
                        st.lists(metadata, min_size=len(t[1]), max_size=len(t[1])),
                        st.lists(document, min_size=len(t[1]), max_size=len(t[1]))))
add = upsert.map(lambda t: ("add",) + t[1:])
update = st.tuples(st.just("update"), st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)).flatmap(
    lambda t: st.tuples(st.just(t[0]), st.just(t[1]),
                        st.lists(st.fixed_dictionaries({"g": st.integers(0, 3)}), min_size=len(t[1]),
                                 max_size=len(t[1]))))
delete = st.tuples(st.just("delete"), st.one_of(st.none(), st.lists(st.sampled_from(IDS), max_size=3, unique=True)),
                   where, where_document).filter(lambda t: t[1] or t[2] or t[3])
query = st.tuples(st.just("query"), vector, st.integers(1, 5), where, where_document)
get = st.tuples(st.just("get"), st.one_of(st.none(), st.lists(st.sampled_from(IDS), max_size=4, unique=True)),
                where, where_document, st.one_of(st.none(), st.integers(0, 5)), st.one_of(st.none(), st.integers(0, 3)))
count = st.just(("count",))
ops = st.lists(st.one_of(upsert, add, update, delete, query, get, count), min_size=1, max_size=12)


def apply(c, op):
    kind = op[0]
    try:
        if kind == "upsert":
            return c.upsert(ids=op[1], embeddings=op[2], metadatas=op[3], documents=op[4])
        if kind == "add":
            return c.add(ids=op[1], embeddings=op[2], metadatas=op[3], documents=op[4])
        if kind == "update":
            return c.update(ids=op[1], metadatas=op[2])
        if kind == "delete":
            return c.delete(ids=op[1], where=op[2], where_document=op[3])
        if kind == "query":
            r = c.query(query_embeddings=[op[1]], n_results=op[2], where=op[3], where_document=op[4],
                        include=["distances", "documents", "metadatas", "embeddings"])
            r["embeddings"] = [e.tolist() for e in r["embeddings"]]
            return r
        if kind == "get":
            r = c.get(ids=op[1], where=op[2], where_document=op[3], limit=op[4], offset=op[5],
                      include=["documents", "metadatas", "embeddings"])
            r["embeddings"] = r["embeddings"].tolist()
            return r
        return c.count()
    except sextant.errors.SextantError as e:
        return ("error", type(e).__name__, str(e))


@pytest.fixture(scope="module")
def clients(server, tmp_path_factory):
    emb = sextant.PersistentClient(path=str(tmp_path_factory.mktemp("prop") / "db"), durable=False)
    http = sextant.HttpClient(host="127.0.0.1", port=server.port)
    return emb, http


@settings(max_examples=int(os.environ.get("SEXTANT_PROPERTY_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=ops)
def test_embedded_and_http_agree(clients, ops):
    emb, http = clients
    cols = []
    for cl in (emb, http):
        try:
            cl.delete_collection("prop")
        except sextant.errors.NotFoundError:
            pass
        cols.append(cl.create_collection("prop", configuration={"dimension": 3, "text": True}))
    for op in ops:
        a = apply(cols[0], op)
        b = apply(cols[1], op)
        assert a == b, op
    final = [c.get(include=["documents", "metadatas", "embeddings"]) for c in cols]
    for f in final:
        f["embeddings"] = f["embeddings"].tolist()
    assert final[0] == final[1]
