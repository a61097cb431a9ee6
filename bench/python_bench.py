"""The Python package's overhead and hnswlib's Python binding, on the same data (docs/benchmarks.md).

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--n 100000] [--dim 384]

Prints JSON lines: the bulk upsert/add of N x DIM float32 rows through the embedded Python client
and through the C++ API (Collection::Upsert timed in-process, same batches, relaxed durability,
sealing deferred so that the write path is measured, not the background indexer); the latency of one
k=10 query through the Python client, the raw binding and the C++ API; then recall@10 and
latency per ef for Sextant's Python query and hnswlib (Debian's python3-hnswlib), same M and
ef_construction, single-threaded queries. Data: Gaussian clusters (seeded).
"""

import argparse
import json
import shutil
import tempfile
import time

import numpy as np

import sextant


def data(n, dim, nq, seed=7):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(200, dim)).astype(np.float32)
    x = centers[rng.integers(0, 200, n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
    q = centers[rng.integers(0, 200, nq)] + 0.5 * rng.normal(size=(nq, dim)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(q, dtype=np.float32)


def truth(x, q, k):
    xx = (x * x).sum(1)
    out = []
    for i in range(0, len(q), 100):
        d = xx[None, :] - 2 * q[i:i + 100] @ x.T
        out.append(np.argsort(d, axis=1)[:, :k])
    return np.concatenate(out)


def recall(found, gt):
    return float(np.mean([len(set(f) & set(g)) / len(g) for f, g in zip(found, gt)]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    a = ap.parse_args()
    x, q = data(a.n, a.dim, a.queries)
    ids = [str(i) for i in range(a.n)]
    gt = truth(x, q, 10)
    tmp = tempfile.mkdtemp(prefix="sextant-pybench-")
    try:
        client = sextant.PersistentClient(path=tmp + "/db", durable=False)
        conf = {"dimension": a.dim, "metric": "l2", "hnsw": {"M": a.M, "ef_construction": a.ef_construction},
                # the write path alone: no background indexing competes with the load (optimize()
                # indexes afterwards); otherwise each load mostly waits for the indexer
                "segments": {"seal_points": a.n + 1}}
        # bulk writes: Python upsert, Python add (checks for existing ids first), the C++ API
        times = {}
        for how in ("python_upsert", "python_add", "cxx_upsert"):
            col = client.create_collection(how.replace("_", "-"), configuration=conf)
            t = 0.0
            for s in range(0, a.n, a.batch):
                if how == "cxx_upsert":
                    t += col._backend._c._time_upsert_cxx(ids[s:s + a.batch], x[s:s + a.batch])
                else:
                    t0 = time.perf_counter()
                    getattr(col, how.split("_")[1])(ids=ids[s:s + a.batch], embeddings=x[s:s + a.batch])
                    t += time.perf_counter() - t0
            times[how] = t
            print(json.dumps({"event": "bulk", "how": how, "n": a.n, "dim": a.dim, "batch": a.batch,
                              "seconds": round(t, 3), "points_per_s": round(a.n / t)}), flush=True)
            if how != "python_upsert":
                client.delete_collection(how.replace("_", "-"))
        col = client.get_collection("python-upsert")
        t0 = time.perf_counter()
        col.optimize(merge_all=True)
        print(json.dumps({"event": "index", "seconds": round(time.perf_counter() - t0, 2)}), flush=True)
        raw = col._backend._c
        # one query, k = 10: Python client, raw binding, C++ API (each after a warm-up)
        for ef in (16, 32, 64, 128):
            found = []
            t0 = time.perf_counter()
            for i in range(a.queries):
                r = col.query(query_embeddings=q[i:i + 1], n_results=10, include=["distances"], ef=ef)
                found.append([int(s) for s in r["ids"][0]])
            t_client = (time.perf_counter() - t0) / a.queries
            req = json.dumps({"k": 10, "ef": ef, "include": []})
            t0 = time.perf_counter()
            for i in range(a.queries):
                raw.query(req, q[i:i + 1])
            t_raw = (time.perf_counter() - t0) / a.queries
            print(json.dumps({"event": "query", "engine": "sextant", "ef": ef, "recall": round(recall(found, gt), 4),
                              "python_client_us": round(t_client * 1e6, 1), "binding_us": round(t_raw * 1e6, 1)}),
                  flush=True)
        # C++ API: the collection's default ef (128) unless QueryRequest says; time both at default
        t_cxx = sum(raw._time_query_cxx(q[i], 10, 1) for i in range(a.queries)) / a.queries
        t0 = time.perf_counter()
        for i in range(a.queries):
            col.query(query_embeddings=q[i:i + 1], n_results=10, include=["distances"])
        t_client = (time.perf_counter() - t0) / a.queries
        print(json.dumps({"event": "overhead", "ef": 128, "cxx_api_us": round(t_cxx * 1e6, 1),
                          "python_client_us": round(t_client * 1e6, 1), "ratio": round(t_client / t_cxx, 3)}),
              flush=True)
        try:
            import hnswlib
        except ImportError:
            return
        ix = hnswlib.Index(space="l2", dim=a.dim)
        ix.init_index(max_elements=a.n, M=a.M, ef_construction=a.ef_construction, random_seed=100)
        t0 = time.perf_counter()
        ix.add_items(x, np.arange(a.n), num_threads=2)
        print(json.dumps({"event": "index", "engine": "hnswlib", "seconds": round(time.perf_counter() - t0, 2)}),
              flush=True)
        ix.set_num_threads(1)
        for ef in (16, 32, 64, 128):
            ix.set_ef(ef)
            found = []
            t0 = time.perf_counter()
            for i in range(a.queries):
                labels, _ = ix.knn_query(q[i:i + 1], k=10)
                found.append(labels[0].tolist())
            t = (time.perf_counter() - t0) / a.queries
            print(json.dumps({"event": "query", "engine": "hnswlib", "ef": ef, "recall": round(recall(found, gt), 4),
                              "python_us": round(t * 1e6, 1)}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
