#!/usr/bin/env bash
# Sextant against hnswlib (native, -O3 -march=native) and FAISS on Fashion-MNIST, in one run.
# usage: bench/ann_vs_peers.sh [DATA_DIR] [NQ]      (run from the repository root, after make build)
# Needs: scripts/setup.sh --peers. Prints JSON lines; each process's peak RSS follows as
# {"rss_kb":...}. The figures in docs/benchmarks.md come from this script.
set -euo pipefail
DATA=${1:-../shared/data/fashion-mnist}
NQ=${2:-2000}
PEERS=${PEERS:-../shared/peers}
if [[ ! -f $DATA/base.bvecs ]]; then
  echo "ann_vs_peers: $DATA/base.bvecs not found (the shared data sets are not beside this checkout)" >&2
  exit 1
fi
HNSWLIB_BIN=${TMPDIR:-/tmp}/sextant_hnswlib_bench
g++ -O3 -march=native -std=c++17 -pthread "$PEERS/hnswlib_bench.cpp" -o "$HNSWLIB_BIN"
EFS=10,16,24,32,48,64,96,128
RSS_FILE=$(mktemp)
# Runs a command, then prints its peak resident memory as a JSON line on stdout.
rss() { /usr/bin/time -o "$RSS_FILE" -f '{"rss_kb":%M}' "$@"; cat "$RSS_FILE"; }
for metric in l2 cosine; do
  echo "# metric $metric"
  rss "$HNSWLIB_BIN" "$DATA/base.bvecs" "$DATA/query.bvecs" "$DATA/groundtruth_$metric.ivecs" \
    "$metric" 16 200 "$NQ" 2
  for storage in auto f32; do
    rss ./build/sextant bench ann --base "$DATA/base.bvecs" --query "$DATA/query.bvecs" \
      --groundtruth "$DATA/groundtruth_$metric.ivecs" --metric "$metric" --index hnsw --M 16 \
      --ef-construction 200 --ef $EFS --k 10 --threads 1 --build-threads 2 --queries "$NQ" \
      --storage $storage 2>/dev/null
  done
done
if [[ "${SKIP_FAISS:-0}" != 1 ]]; then
  for metric in l2 cosine; do
    echo "# faiss/hnswlib-python, metric $metric"
    rss /usr/bin/python3 "$PEERS/ann_peers.py" "$DATA" "$metric" "$NQ"
  done
fi
