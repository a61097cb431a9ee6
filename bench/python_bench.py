"""The Python package's overhead and hnswlib's Python binding, on the same data (docs/benchmarks.md).

    PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--n 100000] [--dim 384]
        [--repeat 3] [--parts bulk,query,hnswlib]

Prints JSON lines: the bulk upsert/add of N x DIM float32 rows through the embedded Python client
and through the C++ API (Collection::Upsert of prebuilt Points timed in-process, same batches,
relaxed durability, sealing deferred so that the write path is measured, not the background
indexer), each repeated --repeat times interleaved, with the median; the latency of one k=10 query
through the Python client, the raw binding and the C++ API; then recall@10 and latency per ef for
Sextant's Python query and hnswlib (Debian's python3-hnswlib), same M and ef_construction,
single-threaded queries, one query per call and all queries in one call. Data: Gaussian clusters
(seeded).
"""

import argparse
import json
import shutil
import statistics
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
    ap.add_argument("--repeat", type=int, default=3, help="bulk loads per way (median reported)")
    ap.add_argument("--parts", default="bulk,query,hnswlib")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
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
        # bulk writes: Python upsert, Python add (checks for existing ids first), the C++ API;
        # interleaved, so that drifts of the shared machine hit each alike
        times = {how: [] for how in ("python_upsert", "python_add", "cxx_upsert")}
        for rep in range(a.repeat if "bulk" in parts else 0):
            for how in times:
                name = how.replace("_", "-")
                col = client.create_collection(name, configuration=conf)
                t = 0.0
                for s in range(0, a.n, a.batch):
                    if how == "cxx_upsert":
                        t += col._backend._c._time_upsert_cxx(ids[s:s + a.batch], x[s:s + a.batch])
                    else:
                        t0 = time.perf_counter()
                        getattr(col, how.split("_")[1])(ids=ids[s:s + a.batch], embeddings=x[s:s + a.batch])
                        t += time.perf_counter() - t0
                times[how].append(t)
                print(json.dumps({"event": "bulk", "how": how, "run": rep + 1, "n": a.n, "dim": a.dim,
                                  "batch": a.batch, "seconds": round(t, 3), "points_per_s": round(a.n / t)}),
                      flush=True)
                client.delete_collection(name)
        if "bulk" in parts:
            med = {how: statistics.median(ts) for how, ts in times.items()}
            print(json.dumps({"event": "bulk_median", "runs": a.repeat,
                              **{how: round(t, 3) for how, t in med.items()},
                              "python_upsert_vs_cxx": round(med["python_upsert"] / med["cxx_upsert"], 3),
                              "python_add_vs_cxx": round(med["python_add"] / med["cxx_upsert"], 3)}), flush=True)
        if not parts & {"query", "hnswlib"}:
            return
        col = client.create_collection("python-upsert", configuration=conf)
        for s in range(0, a.n, a.batch):
            col.upsert(ids=ids[s:s + a.batch], embeddings=x[s:s + a.batch])
        col = client.get_collection("python-upsert")
        t0 = time.perf_counter()
        col.optimize(merge_all=True)
        print(json.dumps({"event": "index", "seconds": round(time.perf_counter() - t0, 2)}), flush=True)
        raw = col._backend._c
        # C++ API vs the Python client, one query, k = 10, the collection's default ef (128)
        col.query(query_embeddings=q[:50], n_results=10, include=["distances"])  # warm-up
        t_cxx, t_client = [], []
        for _ in range(a.repeat):
            t_cxx.append(sum(raw._time_query_cxx(q[i], 10, 1) for i in range(a.queries)) / a.queries)
            t0 = time.perf_counter()
            for i in range(a.queries):
                col.query(query_embeddings=q[i:i + 1], n_results=10, include=["distances"])
            t_client.append((time.perf_counter() - t0) / a.queries)
        t_cxx, t_client = statistics.median(t_cxx), statistics.median(t_client)
        print(json.dumps({"event": "overhead", "ef": 128, "cxx_api_us": round(t_cxx * 1e6, 1),
                          "python_client_us": round(t_client * 1e6, 1), "ratio": round(t_client / t_cxx, 3)}),
              flush=True)
        ix = None
        if "hnswlib" in parts:
            try:
                import hnswlib
            except ImportError:
                hnswlib = None
            if hnswlib is not None:
                ix = hnswlib.Index(space="l2", dim=a.dim)
                ix.init_index(max_elements=a.n, M=a.M, ef_construction=a.ef_construction, random_seed=100)
                t0 = time.perf_counter()
                ix.add_items(x, np.arange(a.n), num_threads=2)
                print(json.dumps({"event": "index", "engine": "hnswlib",
                                  "seconds": round(time.perf_counter() - t0, 2)}), flush=True)
                ix.set_num_threads(1)

        def sextant_one(ef):
            found = []
            for i in range(a.queries):
                r = col.query(query_embeddings=q[i:i + 1], n_results=10, include=["distances"], ef=ef)
                found.append([int(s) for s in r["ids"][0]])
            return found

        def sextant_batch(ef):
            r = col.query(query_embeddings=q[:a.queries], n_results=10, include=["distances"], ef=ef)
            return [[int(s) for s in row] for row in r["ids"]]

        def hnswlib_one(ef):
            return [ix.knn_query(q[i:i + 1], k=10)[0][0].tolist() for i in range(a.queries)]

        def hnswlib_batch(ef):
            return ix.knn_query(q[:a.queries], k=10, num_threads=1)[0].tolist()

        ways = {"sextant_one": sextant_one, "sextant_batch": sextant_batch}
        if ix is not None:
            ways.update({"hnswlib_one": hnswlib_one, "hnswlib_batch": hnswlib_batch})
        # recall@10 and µs per query at each ef; each way timed --repeat times, interleaved
        # (median), single-threaded: one query per call, and all queries in one call
        for ef in (16, 32, 64, 128):
            if ix is not None:
                ix.set_ef(ef)
            us = {w: [] for w in ways}
            rec = {}
            for _ in range(a.repeat):
                for w, f in ways.items():
                    t0 = time.perf_counter()
                    found = f(ef)
                    us[w].append((time.perf_counter() - t0) / a.queries * 1e6)
                    rec[w] = round(recall(found, gt[:a.queries]), 4)
            row = {"event": "query", "ef": ef}
            for w in ways:
                row[w + "_recall"] = rec[w]
                row[w + "_us"] = round(statistics.median(us[w]), 1)
            print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
