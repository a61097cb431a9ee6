#!/usr/bin/env python3
"""Summarises the output of bench/ann_vs_peers.sh as Markdown tables.
usage: bench/summarize_ann.py RESULTS.txt
For each metric and system: build time, peak RSS, memory per vector, and the best QPS among
the sweep points reaching recall@10 >= 0.90 / 0.95 / 0.99, with the ratio to native hnswlib."""
import json
import sys

TARGETS = (0.90, 0.95, 0.99)
rows = {}  # (metric, system) -> dict
metric = None
current = None
pending_rss = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("# metric"):
        metric = line.split()[-1]
        continue
    if line.startswith("# faiss"):
        metric = line.split()[-1]
        continue
    if not line.startswith("{"):
        continue
    try:
        r = json.loads(line)
    except json.JSONDecodeError:
        continue
    if "rss_kb" in r:
        for key in pending_rss:
            rows[key]["rss_mb"] = r["rss_kb"] / 1024
        pending_rss = []
        continue
    if r.get("event") == "build":
        name = f"sextant hnsw ({r['storage']})"
        current = (metric, name)
        rows[current] = {"build_s": r["build_s"], "bytes_per_vector": r["bytes_per_vector"], "pts": []}
        pending_rss.append(current)
        continue
    if r.get("event") == "search":
        rows[current]["pts"].append((r["recall"], r["qps"]))
        continue
    system = r.get("system")
    if system is None:
        continue
    if system == "hnswlib-native":
        current = (metric, "hnswlib (native, -O3 -march=native)")
        entry = rows.setdefault(current, {"pts": []})
        if "build_s" in r:
            entry["build_s"] = r["build_s"]
            pending_rss.append(current)
        else:
            entry["pts"].append((r["recall10"], r["qps"]))
        continue
    if "build_s" in r:
        key = {"hnswlib": "hnswlib M16 efc200", "faiss-hnsw": "faiss HNSW16 efc200",
               "faiss-ivfflat": "faiss IVF256,Flat"}.get(system, system)
        rows.setdefault((metric, key), {"pts": []})["build_s"] = r["build_s"]
        continue
    if "recall10" in r:
        rows.setdefault((metric, system), {"pts": []})["pts"].append((r["recall10"], r["qps"]))

def best(pts, t):
    ok = [q for rec, q in pts if rec >= t]
    return max(ok) if ok else None

for m in sorted({k[0] for k in rows}):
    base = rows.get((m, "hnswlib (native, -O3 -march=native)"), {"pts": []})
    print(f"\n#### {m}\n")
    print("| system | build s (2 threads) | peak RSS MB | bytes/vector (index) | "
          + " | ".join(f"QPS @ recall ≥ {t:.2f}" for t in TARGETS) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(TARGETS))
    for (mm, name), e in sorted(rows.items()):
        if mm != m:
            continue
        cells = []
        for t in TARGETS:
            q = best(e["pts"], t)
            b = best(base["pts"], t)
            if q is None:
                cells.append("—")
            elif b and "native" not in name:
                cells.append(f"{q:,.0f} ({q / b:.2f}×)")
            else:
                cells.append(f"{q:,.0f}")
        rss = f"{e['rss_mb']:.0f}" if "rss_mb" in e else "—"
        bpv = f"{e['bytes_per_vector']:.0f}" if "bytes_per_vector" in e else "—"
        build = f"{e['build_s']:.1f}" if "build_s" in e else "—"
        print(f"| {name} | {build} | {rss} | {bpv} | " + " | ".join(cells) + " |")
