#!/usr/bin/env bash
# Semantic, keyword and hybrid search on BEIR SciFact with the built-in embedding model, through
# the command-line program: documents in (title + " " + abstract, no vectors), nDCG@10 out.
# usage: bench/scifact_embed.sh [DATA_DIR] [MODEL]   (from the repository root, after make build)
# Prints one JSON line per mode and fusion setting (the eval's report names them), on the test
# split. The numpy reference of potion-base-4M gives semantic nDCG@10 0.4600.
set -euo pipefail
DATA=${1:-../shared/data/scifact/beir_format}
MODEL=${2:-potion-base-4M}
SPLIT=${SPLIT:-test}
[[ -f $DATA/corpus.jsonl ]] || { echo "scifact_embed: $DATA/corpus.jsonl not found" >&2; exit 1; }
DB=$(mktemp -d)
trap 'rm -rf "$DB"' EXIT
./build/sextant collection create --db "$DB" scifact --embedding "$MODEL" --text --analyzer english >/dev/null
start=$(date +%s.%N)
python3 - "$DATA/corpus.jsonl" <<'PY' | ./build/sextant upsert --db "$DB" scifact --batch 1000 --relaxed | tail -n 1
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    doc = (d.get("title", "") + " " + d.get("text", "")).strip()
    print(json.dumps({"id": d["_id"], "document": doc}))
PY
echo "# embedded and indexed $(wc -l < "$DATA/corpus.jsonl") documents in $(echo "$(date +%s.%N) - $start" | bc) s"
./build/sextant optimize --db "$DB" scifact >/dev/null 2>&1
eval_beir() {
  ./build/sextant eval beir --db "$DB" scifact --queries "$DATA/queries.jsonl" --qrels "$DATA/qrels/$SPLIT.tsv" "$@"
}
eval_beir --mode semantic
eval_beir --mode keyword
eval_beir --mode hybrid      # the default of a text query here: weighted, the model's hybrid_alpha
eval_beir --mode hybrid --fusion rrf
for w in 0.5 0.3 0.2; do eval_beir --mode hybrid --fusion rrf --vector-weight "$w"; done
for a in 0.5 0.3 0.2; do eval_beir --mode hybrid --fusion weighted --alpha "$a"; done
eval_beir --mode hybrid --fusion dbsf
for w in 0.5 0.3; do eval_beir --mode hybrid --fusion dbsf --vector-weight "$w"; done
