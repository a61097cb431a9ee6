#!/usr/bin/python3
"""Summarizes bench/bert_vs_ort.sh: per data set, thread count and system, the median and best
texts/s over the rounds, and the ratio to ONNX Runtime measured in the same round (next to it in
time, so under about the same load), as the median of the rounds' ratios. Then how close the
embeddings are: each precision's to ONNX Runtime's and int8's to Sextant's fp32.

usage: summarize_bert.py RESULTS.jsonl WORK_DIR "fp32 int8"
"""
import json, statistics, sys

import numpy as np

log, work, precisions = sys.argv[1], sys.argv[2], sys.argv[3].split()
rate = {}  # (set, threads, system) -> {round: texts/s}
load = {}  # (set, threads) -> [loadavg at the start of each group]
ctx = None
for line in open(log):
    j = json.loads(line)
    if "round" in j:
        ctx = (j["round"], j["set"])
        continue
    rate.setdefault((ctx[1], j["threads"], j["system"]), {})[ctx[0]] = j["texts_per_s"]
print("# texts/s: median and best over the rounds; ratio: median over rounds of (system / ONNX Runtime in that round)")
for s in ("abstracts", "queries"):
    for t in sorted({k[1] for k in rate}):
        row = {sys_: v for (s_, t_, sys_), v in rate.items() if s_ == s and t_ == t}
        ort = next((v for k, v in row.items() if k.startswith("onnxruntime")), {})
        for k, v in sorted(row.items()):
            out = {"set": s, "threads": t, "system": k, "median_texts_per_s": round(statistics.median(v.values()), 1),
                   "best_texts_per_s": max(v.values()), "rounds": len(v)}
            ratios = [v[r] / ort[r] for r in v if r in ort]
            if ratios and not k.startswith("onnxruntime"):
                out["vs_onnxruntime"] = round(statistics.median(ratios), 2)
                out["vs_onnxruntime_per_round"] = [round(x, 2) for x in ratios]
            print(json.dumps(out))


def load_rows(path):
    return np.array([json.loads(l)["embedding"] for l in open(path)])


for s in ("abstracts", "queries"):
    ort = load_rows(f"{work}/ort_{s}.jsonl")
    ref = None
    for p in precisions:
        e = load_rows(f"{work}/{p}_{s}.jsonl")
        cos = (e * ort).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(ort, axis=1)
        out = {"set": s, "precision": p, "min_cosine_to_onnxruntime": round(float(cos.min()), 6),
               "max_abs_diff_to_onnxruntime": float(np.abs(e - ort).max())}
        if p == "fp32":
            ref = e
        elif ref is not None:
            c = (e * ref).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(ref, axis=1)
            out.update(min_cosine_to_fp32=round(float(c.min()), 6), mean_cosine_to_fp32=round(float(c.mean()), 6))
        print(json.dumps(out))
