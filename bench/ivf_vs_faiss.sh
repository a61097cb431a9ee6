#!/usr/bin/env bash
# Sextant's IVF-Flat, IVF-PQ and SQ8 against FAISS (python3-faiss) on Fashion-MNIST, in one run.
# usage: bench/ivf_vs_faiss.sh [DATA_DIR] [NQ] > results.txt   (from the repository root, after
#        make build; FAISS: apt-get install -y python3-faiss python3-numpy)
# Prints every JSON line of both systems, then a markdown summary (the table of
# docs/benchmarks.md). SEXTANT=path/to/sextant picks another binary; SKIP_FAISS=1 skips FAISS.
set -euo pipefail
DATA=${1:-../shared/data/fashion-mnist}
NQ=${2:-2000}
BIN=${SEXTANT:-./build/sextant}
if [[ ! -f $DATA/base.bvecs ]]; then
  echo "ivf_vs_faiss: $DATA/base.bvecs not found (the shared data sets are not beside this checkout)" >&2
  exit 1
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
files=(--base "$DATA/base.bvecs" --query "$DATA/query.bvecs" --groundtruth "$DATA/groundtruth_l2.ivecs")
sx() { "$BIN" bench ann "${files[@]}" --metric l2 --k 10 --threads 1 --queries "$NQ" "$@" 2>/dev/null | tee -a "$OUT"; }
PROBES=1,2,4,8,16,32,64
echo "# sextant $("$BIN" version)"
sx --index flat --batch
sx --index ivf-flat --nlist 256 --nprobe $PROBES               # u8 storage (byte data, lossless)
sx --index ivf-flat --nlist 256 --nprobe $PROBES --storage f32 # like FAISS: float32 vectors
sx --index ivf-pq --nlist 256 --m 56 --nbits 8 --nprobe $PROBES
sx --index ivf-pq --nlist 256 --m 56 --nbits 8 --nprobe 8,16 --rerank 100
sx --index ivf-pq --nlist 256 --m 56 --nbits 4 --nprobe 8,16,32 --rerank 100
sx --index sq8
sx --index sq8 --rerank 50
sx --index hnsw-sq8 --M 16 --ef-construction 200 --build-threads 2 --ef 16,32,64 --rerank 50
sx --index ivf-flat --nlist 256 --nprobe 8,16 --dims 392 --rerank 100
if [[ "${SKIP_FAISS:-0}" != 1 ]]; then
  echo "# faiss"
  /usr/bin/python3 bench/faiss_ivf_peers.py "${files[@]}" --index ivf-flat,ivf-pq,sq8 \
    --nlist 256 --m 56 --nbits 8 --nprobe $PROBES --k 10 --queries "$NQ" --rerank 50 \
    --build-threads 2 | sed -u 's/": /":/g; s/, "/,"/g' | tee -a "$OUT"
fi

echo
echo "# summary"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
runs, cur = [], None
for l in lines:
    if l["event"] == "build":
        cur = {"build": l, "search": []}
        runs.append(cur)
    elif l["event"] == "search" and cur is not None:
        cur["search"].append(l)

def pick(system, index, rerank=None, nbits=None, dims=None, storage=None):
    for r in runs:
        b = r["build"]
        if (("peer" in b) == (system == "faiss") and b["index"] == index
                and b.get("rerank") == rerank and (nbits is None or b.get("nbits") == nbits)
                and b.get("dims") == dims and (storage is None or b.get("storage") == storage)):
            return r
    return None

def qps_at(run, level):
    ok = [s["qps"] for s in run["search"] if s["recall"] >= level and "rerank" not in s]
    return max(ok) if ok else None

def at_probe(run, p):
    for s in run["search"]:
        if s.get("nprobe") == p and "rerank" not in s:
            return s
    return None

def fmt(x, d=0):
    return "—" if x is None else f"{x:,.{d}f}"

sxu, sxf = pick("sextant", "ivf-flat", storage="u8"), pick("sextant", "ivf-flat", storage="f32")
fa = pick("faiss", "ivf-flat")
if fa and (sxu or sxf):
    print("| IVF-Flat nlist 256 | train+add s | bytes/vector | QPS @ recall ≥ 0.90 | QPS @ recall ≥ 0.95 | QPS @ ≥ 0.99 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in (("Sextant, u8 storage", sxu), ("Sextant, f32 storage", sxf), ("FAISS IndexIVFFlat", fa)):
        if not r:
            continue
        cells = []
        for lvl in (.90, .95, .99):
            q, f = qps_at(r, lvl), qps_at(fa, lvl)
            cells.append(fmt(q) + (f" ({q / f:.1f}×)" if q and f and r is not fa else ""))
        b = r["build"]
        print(f"| {name} | {b['build_s']:.2f} | {b['memory_bytes'] / b['n']:.0f} | " + " | ".join(cells) + " |")
    print()
sx, fa = pick("sextant", "ivf-pq", nbits=8), pick("faiss", "ivf-pq")
if sx and fa:
    print("| IVF-PQ nlist 256, m 56, 8 bits | train s | add s | train+add s | recall@10 nprobe 8 | QPS nprobe 8 | bytes/vector |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in (("Sextant", sx), ("FAISS", fa)):
        s8 = at_probe(r, 8)
        b = r["build"]
        print(f"| {name} | {b['train_s']:.2f} | {b['add_s']:.2f} | {b['build_s']:.2f} | {s8['recall']:.4f} | {fmt(s8['qps'])} | {b['memory_bytes'] / b['n']:.0f} |")
    a8, f8 = at_probe(sx, 8), at_probe(fa, 8)
    # QPS at FAISS's nprobe-8 recall: Sextant's best QPS reaching it.
    q = qps_at(sx, f8["recall"])
    print(f"\nIVF-PQ: recall at nprobe 8 {a8['recall']:.4f} vs FAISS {f8['recall']:.4f}; "
          f"QPS at recall >= {f8['recall']:.4f}: {fmt(q)} vs {fmt(f8['qps'])} ({(q or 0) / f8['qps']:.1f}x); "
          f"train+add {sx['build']['build_s']:.1f} s vs {fa['build']['build_s']:.1f} s "
          f"({sx['build']['build_s'] / fa['build']['build_s']:.3f} of FAISS's)\n")
flat = pick("sextant", "flat")
rows = [("Sextant sq8", pick("sextant", "sq8")), ("Sextant sq8 --rerank 50", pick("sextant", "sq8", rerank=50)),
        ("FAISS IndexScalarQuantizer QT_8bit", pick("faiss", "sq8"))]
if flat:
    f32 = flat["build"]["memory_bytes"]
    print("| SQ8 (flat scan) | bytes/vector (index) | vs float32 flat | re-rank bytes/vector | recall@10 | QPS |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| Sextant flat f32 | {f32 / flat['build']['n']:.0f} | 1.00 | — | {flat['search'][0]['recall']:.4f} | {fmt(flat['search'][0]['qps'])} (sgemm batch) |")
    for name, r in rows:
        if not r:
            continue
        b = r["build"]
        for s in r["search"]:
            extra = " (IndexRefineFlat, k_factor 5)" if "rerank" in s and "peer" in b else ""
            print(f"| {name}{extra} | {b['memory_bytes'] / b['n']:.0f} | {b['memory_bytes'] / f32:.2f} | "
                  f"{fmt(b.get('rerank_bytes', 0) / b['n'] if b.get('rerank_bytes') else None)} | {s['recall']:.4f} | {fmt(s['qps'])} |")
PY
