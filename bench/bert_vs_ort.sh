#!/usr/bin/env bash
# Sextant's BERT runtime against ONNX Runtime (and, with TORCH=1, PyTorch) on the same weights,
# the same token ids and the same threads, in one run: a random-weight all-MiniLM-L6-v2-shaped
# model (real weights cannot be downloaded here), SciFact abstracts (the first 256 documents,
# title + abstract, cut at 256 tokens) and SciFact queries. Rounds alternate the systems so that
# the machine's load hits them alike; bench/summarize_bert.py gives each system's median and best
# texts/s and its ratio to ONNX Runtime fp32 in the same round (the median of the rounds'
# ratios). Then the embeddings are compared (cosine to ONNX Runtime's; int8 to Sextant's fp32).
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

/usr/bin/python3 "$(dirname "$0")/summarize_bert.py" "$LOG" "$WORK" "$PRECISIONS"
