#!/usr/bin/env bash
# Sextant's BERT runtime against ONNX Runtime (and, with TORCH=1, PyTorch) on the same weights,
# the same token ids and the same threads, in one run: a random-weight all-MiniLM-L6-v2-shaped
# model (real weights cannot be downloaded here), SciFact abstracts (the first 256 documents,
# title + abstract, cut at 256 tokens) and SciFact queries. Rounds alternate the systems so that
# the machine's load hits them alike; the summary gives each system's median and best texts/s
# and Sextant's ratio to ONNX Runtime fp32 (median over median). Then the embeddings are
# compared (cosine to ONNX Runtime's; int8 to Sextant's fp32).
#
# usage: bench/bert_vs_ort.sh [ROUNDS]        (from the repository root)
# Needs: scripts/setup.sh --peers (python3-torch, onnxruntime-node in build/peers) and
#   cmake --build $BUILD --target sextant_bert_bench
# Env: BUILD (build), WORK ($BUILD/bert-bench), THREADS ("1 2"), PRECISIONS ("fp32 int8"),
#   TORCH (0; 1: PyTorch too, in the first round only: it is several times slower), PEERS
#   (../shared/peers), PEERS_DIR (build/peers). The figures in
#   docs/benchmarks.md come from this script.
set -euo pipefail
ROUNDS=${1:-3}
BUILD=${BUILD:-build}
WORK=${WORK:-$BUILD/bert-bench}
THREADS=${THREADS:-"1 2"}
PRECISIONS=${PRECISIONS:-"fp32 int8"}
TORCH=${TORCH:-0}
PEERS=${PEERS:-../shared/peers}
export NODE_PATH=${PEERS_DIR:-build/peers}/node_modules
B=$BUILD/bench/sextant_bert_bench
MODEL=$WORK/minilm-random
LOG=$WORK/results.jsonl

if [[ ! -x $B ]]; then echo "bert_vs_ort: build $B first" >&2; exit 1; fi
if [[ ! -d $NODE_PATH/onnxruntime-node ]]; then echo "bert_vs_ort: run scripts/setup.sh --peers first" >&2; exit 1; fi
mkdir -p "$WORK"
[[ -f $MODEL/model.safetensors ]] || "$B" make-model "$MODEL"
[[ -f $MODEL/onnx/model.onnx ]] || /usr/bin/python3 "$PEERS/onnx_export_bert.py" "$MODEL" >&2
"$B" texts --model "$MODEL" --out-dir "$WORK"
: > "$LOG"
ctx() { printf '{"round":%s,"set":"%s","loadavg":"%s"}\n' "$1" "$2" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
for r in $(seq 1 "$ROUNDS"); do
  for set in abstracts queries; do
    for t in $THREADS; do
      ctx "$r" "$set" | tee -a "$LOG"
      for p in $PRECISIONS; do
        "$B" run --model "$MODEL" --ids "$WORK/$set.ids.jsonl" --threads "$t" --precision "$p" | tee -a "$LOG"
      done
      node "$PEERS/ort_sentence_bench.js" "$MODEL" "$WORK/$set.ids.jsonl" "$t" | tee -a "$LOG"
      if [[ $TORCH == 1 && $r == 1 ]]; then
        /usr/bin/python3 "$PEERS/torch_sentence_bench.py" "$MODEL" "$WORK/$set.jsonl" "$t" | tee -a "$LOG"
      fi
    done
  done
done

# Agreement on the same inputs: each precision's embeddings against ONNX Runtime's.
for set in abstracts queries; do
  node "$PEERS/ort_sentence_bench.js" "$MODEL" "$WORK/$set.ids.jsonl" 2 "$WORK/ort_$set.jsonl" > /dev/null
  for p in $PRECISIONS; do
    "$B" run --model "$MODEL" --ids "$WORK/$set.ids.jsonl" --threads 2 --precision "$p" --out "$WORK/${p}_$set.jsonl" > /dev/null
  done
done

/usr/bin/python3 - "$LOG" "$WORK" "$PRECISIONS" <<'EOF'
import json, statistics, sys
import numpy as np
log, work, precisions = sys.argv[1], sys.argv[2], sys.argv[3].split()
runs, cur = {}, None
for line in open(log):
    j = json.loads(line)
    if "round" in j:
        cur = j["set"]
        continue
    runs.setdefault((cur, j["threads"], j["system"]), []).append(j["texts_per_s"])
print("# texts/s: median (best) over rounds")
for s in ("abstracts", "queries"):
    for t in sorted({k[1] for k in runs}):
        row = {sys_: v for (s_, t_, sys_), v in runs.items() if s_ == s and t_ == t}
        ort = next((statistics.median(v) for k, v in row.items() if k.startswith("onnxruntime")), None)
        for k, v in sorted(row.items()):
            ratio = f"x{statistics.median(v) / ort:.2f} ONNX Runtime" if ort and not k.startswith("onnxruntime") else ""
            print(json.dumps({"set": s, "threads": t, "system": k, "median_texts_per_s": round(statistics.median(v), 1),
                              "best_texts_per_s": max(v), "rounds": len(v)}) + ("  #" + ratio if ratio else ""))
def load(path):
    return np.array([json.loads(l)["embedding"] for l in open(path)])
for s in ("abstracts", "queries"):
    ort = load(f"{work}/ort_{s}.jsonl")
    ref = None
    for p in precisions:
        e = load(f"{work}/{p}_{s}.jsonl")
        cos = (e * ort).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(ort, axis=1)
        out = {"set": s, "precision": p, "min_cosine_to_onnxruntime": round(float(cos.min()), 6),
               "max_abs_diff_to_onnxruntime": float(np.abs(e - ort).max())}
        if p == "fp32":
            ref = e
        elif ref is not None:
            c = (e * ref).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(ref, axis=1)
            out.update(min_cosine_to_fp32=round(float(c.min()), 6), mean_cosine_to_fp32=round(float(c.mean()), 6))
        print(json.dumps(out))
EOF
