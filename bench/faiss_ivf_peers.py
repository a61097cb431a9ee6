#!/usr/bin/python3
"""FAISS peers for `sextant bench ann --index ivf-flat|ivf-pq|sq8` (docs/benchmarks.md).

Builds faiss.IndexIVFFlat, faiss.IndexIVFPQ and faiss.IndexScalarQuantizer (QT_8bit) with the
same parameters as the Sextant runs, times training plus adding (FAISS's default threads),
then searches all queries as one batch with faiss.omp_set_num_threads(1) at each nprobe and
prints JSON lines shaped like Sextant's:
  {"event":"build","peer":"faiss","index":...,"train_s":...,"add_s":...,"build_s":...,"memory_bytes":...}
  {"event":"search","peer":"faiss","index":...,"nprobe":...,"recall":...,"qps":...}

usage: faiss_ivf_peers.py --base B.bvecs --query Q.bvecs --groundtruth G.ivecs
         [--index ivf-flat,ivf-pq,sq8] [--nlist 256] [--nprobe 1,2,4,8,16,32,64] [--m 56]
         [--nbits 8] [--k 10] [--queries N] [--build-threads 2] [--rerank N]
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

try:
    import faiss
except ImportError:
    sys.exit("faiss_ivf_peers.py: error: python3-faiss is not installed "
             "(apt-get install -y python3-faiss python3-numpy; run with /usr/bin/python3)")


def read_vecs(path, limit=None):
    """Reads .fvecs / .bvecs / .ivecs as a 2-D array (float32 for vectors, int32 for ids)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size < 4:
        sys.exit(f"faiss_ivf_peers.py: error: {path} is empty")
    dim = int(raw[:4].view(np.int32)[0])
    if path.endswith(".bvecs"):
        rows = raw.reshape(-1, 4 + dim)[:, 4:]
        out = rows.astype(np.float32)
    else:
        words = raw.view(np.int32).reshape(-1, 1 + dim)[:, 1:]
        out = words.view(np.float32) if path.endswith(".fvecs") else words
    if limit is not None:
        out = out[:limit]
    return np.ascontiguousarray(out)


def recall_at(found, gt, k):
    hits = 0
    for row, truth in zip(found, gt):
        hits += len(set(row[:k].tolist()) & set(truth[:k].tolist()))
    return hits / (len(found) * k)


def memory_bytes(index):
    """Size of the serialized index: codes, ids and quantizers (FAISS's in-memory footprint)."""
    with tempfile.NamedTemporaryFile(delete=False) as f:
        name = f.name
    try:
        faiss.write_index(index, name)
        return os.path.getsize(name)
    finally:
        os.unlink(name)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--groundtruth", required=True)
    p.add_argument("--index", default="ivf-flat,ivf-pq,sq8")
    p.add_argument("--nlist", type=int, default=256)
    p.add_argument("--nprobe", default="1,2,4,8,16,32,64")
    p.add_argument("--m", type=int, default=56)
    p.add_argument("--nbits", type=int, default=8)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--build-threads", type=int, default=2)
    p.add_argument("--rerank", type=int, default=0, help="sq8: also an IndexRefineFlat run")
    a = p.parse_args()

    xb = read_vecs(a.base)
    xq = read_vecs(a.query, a.queries)
    gt = read_vecs(a.groundtruth, a.queries)
    n, d = xb.shape
    nprobes = [int(x) for x in a.nprobe.split(",")]

    for name in a.index.split(","):
        faiss.omp_set_num_threads(a.build_threads)
        if name == "ivf-flat":
            quantizer = faiss.IndexFlatL2(d)
            index = faiss.IndexIVFFlat(quantizer, d, a.nlist, faiss.METRIC_L2)
        elif name == "ivf-pq":
            quantizer = faiss.IndexFlatL2(d)
            index = faiss.IndexIVFPQ(quantizer, d, a.nlist, a.m, a.nbits)
        elif name == "sq8":
            index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
        else:
            sys.exit(f"faiss_ivf_peers.py: error: unknown index '{name}'")
        t0 = time.perf_counter()
        index.train(xb)
        t1 = time.perf_counter()
        index.add(xb)
        t2 = time.perf_counter()
        build = {"event": "build", "peer": "faiss", "faiss_version": faiss.__version__,
                 "index": name, "n": n, "dim": d, "train_s": round(t1 - t0, 3),
                 "add_s": round(t2 - t1, 3), "build_s": round(t2 - t0, 3),
                 "memory_bytes": memory_bytes(index), "build_threads": a.build_threads}
        if name != "sq8":
            build["nlist"] = a.nlist
        if name == "ivf-pq":
            build.update(m=a.m, nbits=a.nbits)
        print(json.dumps(build), flush=True)

        faiss.omp_set_num_threads(1)
        runs = [(index, p_, {}) for p_ in (nprobes if name != "sq8" else [1])]
        if name == "sq8" and a.rerank > 0:
            faiss.omp_set_num_threads(a.build_threads)
            refine = faiss.IndexRefineFlat(
                faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2))
            refine.train(xb)
            refine.add(xb)
            refine.k_factor = a.rerank / a.k
            faiss.omp_set_num_threads(1)
            runs.append((refine, 1, {"rerank": a.rerank}))
        for ix, nprobe, extra in runs:
            if name != "sq8":
                ix.nprobe = nprobe
            ix.search(xq[:50], a.k)  # warm up
            t0 = time.perf_counter()
            _, ids = ix.search(xq, a.k)
            secs = time.perf_counter() - t0
            line = {"event": "search", "peer": "faiss", "index": name, "nprobe": nprobe,
                    "recall": round(recall_at(ids, gt, a.k), 4), "qps": round(len(xq) / secs, 1),
                    "threads": 1, "k": a.k, "queries": len(xq)}
            line.update(extra)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
