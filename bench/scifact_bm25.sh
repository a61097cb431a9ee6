#!/usr/bin/env bash
# BM25 on BEIR SciFact through the embedded database and the CLI, beside Xapian and SQLite FTS5
# (../shared/peers/bm25_peers.py) in the same run.
# usage: bench/scifact_bm25.sh [DATA_DIR] [TITLE_REPEAT]   (from the repository root, after make build)
# Each document is indexed as its title repeated TITLE_REPEAT times (default 2: a title boost,
# chosen on the train split) followed by its abstract, with the "english" analyzer.
set -euo pipefail
DATA=${1:-../shared/data/scifact/beir_format}
REPEAT=${2:-2}
PEERS=${PEERS:-../shared/peers}
[[ -f $DATA/corpus.jsonl ]] || { echo "scifact_bm25: $DATA/corpus.jsonl not found" >&2; exit 1; }
DB=$(mktemp -d)
trap 'rm -rf "$DB"' EXIT
./build/sextant collection create --db "$DB" scifact --dim 0 --text --analyzer english >/dev/null
python3 - "$DATA/corpus.jsonl" "$REPEAT" <<'PY' | ./build/sextant upsert --db "$DB" scifact --batch 1000 --relaxed | tail -n 1
import json, sys
repeat = int(sys.argv[2])
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    title = d.get("title", "")
    doc = " ".join([title] * repeat + [d.get("text", "")]).strip()
    print(json.dumps({"id": d["_id"], "document": doc}))
PY
for split in train test; do
  echo "# sextant, title x$REPEAT, qrels/$split"
  ./build/sextant eval beir --db "$DB" scifact --queries "$DATA/queries.jsonl" --qrels "$DATA/qrels/$split.tsv"
done
if [[ "${SKIP_PEERS:-0}" != 1 ]]; then
  echo "# peers (test split)"
  /usr/bin/python3 "$PEERS/bm25_peers.py" "$DATA" test
fi
