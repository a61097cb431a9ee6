"""A data directory written from Python opens in the command line and the server, and the other
way round."""

import json
import os
import subprocess

import pytest

import sextant

from conftest import HAVE_CORE, Server, sextant_program

pytestmark = pytest.mark.skipif(not HAVE_CORE or not os.path.exists(sextant_program()),
                                reason="needs sextant._core and the sextant program")


def cli(*args, stdin=None):
    r = subprocess.run([sextant_program(), *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_python_then_cli(tmpdir_path):
    db = os.path.join(tmpdir_path, "db")
    client = sextant.PersistentClient(path=db)
    c = client.create_collection("docs", metadata={"owner": "me"}, configuration={"dimension": 2, "metric": "cosine"})
    c.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]], documents=["hello", "world"], metadatas=[{"n": 1}, None])
    del c, client
    import gc
    gc.collect()  # closes the database (one process per directory)
    assert cli("count", "--db", db, "docs") == [{"count": 2}]
    # the metadata is in the collection's config.json: the command line lists it
    listed = cli("collection", "list", "--db", db)
    assert json.dumps(listed).count('"owner": "me"') == 1, listed
    hits = cli("query", "--db", db, "docs", "--include", "document,metadata",
               stdin='{"vector":[1,0],"k":1}\n')[0]["results"]
    assert hits[0]["id"] == "a" and hits[0]["document"] == "hello" and hits[0]["metadata"] == {"n": 1}


def test_cli_then_python_and_server(tmpdir_path):
    db = os.path.join(tmpdir_path, "db")
    cli("collection", "create", "--db", db, "notes", "--dim", "3", "--text")
    cli("upsert", "--db", db, "notes", stdin='{"id":"x","vector":[0,0,1],"document":"thermal fault"}\n'
                                              '{"id":"y","vector":[1,0,0],"document":"printer"}\n')
    client = sextant.PersistentClient(path=db)
    c = client.get_collection("notes")
    assert c.metadata is None and c.count() == 2
    assert c.query(query_texts=["thermal"], n_results=1)["ids"] == [["x"]]
    assert c.query(query_embeddings=[[1, 0, 0]], n_results=1)["ids"] == [["y"]]
    c.add(ids=["z"], embeddings=[[0, 1, 0]])
    del c, client
    import gc
    gc.collect()
    # the server serves an embedded database directory as tenant default, database default
    data = os.path.join(tmpdir_path, "data")
    os.makedirs(os.path.join(data, "tenants", "default", "databases"))
    os.rename(db, os.path.join(data, "tenants", "default", "databases", "default"))
    srv = Server(data)
    try:
        h = sextant.HttpClient(host="127.0.0.1", port=srv.port)
        col = h.get_collection("notes")
        assert col.count() == 3
        assert col.get(ids=["z"], include=["embeddings"])["embeddings"].tolist() == [[0, 1, 0]]
    finally:
        srv.stop()
