#!/usr/bin/env bash
# HTTP load benchmark: GET /api/v1/inbox and POST .../progress with wrk
# against a release server on a data directory filled by `congvan debug load`
# (100,000 documents, 1,000,000 events by default).
# Usage: benches/http/run.sh [DATA_DIR] [DURATION]
set -euo pipefail
cd "$(dirname "$0")"
BIN=../../target/release/congvan
DATA=${1:-/tmp/congvan-bench}
DURATION=${2:-20s}
PORT=18282
BASE="http://127.0.0.1:$PORT"
if [ ! -f "$DATA/congvan.db" ]; then
  "$BIN" debug load --data-dir "$DATA" --documents 100000
fi
"$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --metrics-listen "" 2>"$DATA/bench-server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "$BASE/readyz"; echo

# 64 specialists (sp0000 …), each holding about 100 documents.
: >tokens.txt; : >work.txt
for i in $(seq 0 63); do
  user=$(printf 'sp%04d' "$i")
  t=$(curl -fsS -X POST "$BASE/api/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"demo\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  echo "$t" >>tokens.txt
  curl -fsS "$BASE/api/v1/inbox" -H "Authorization: Bearer $t" |
    python3 -c 'import json,sys
t=sys.argv[1]
for r in json.load(sys.stdin)["items"][:20]: print(t, r["document_id"])' "$t" >>work.txt
done
echo "inbox rows per official: $(curl -fsS "$BASE/api/v1/inbox" -H "Authorization: Bearer $(head -1 tokens.txt)" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')"
echo "== GET /api/v1/inbox"
wrk -t2 -c32 -d"$DURATION" --latency -s inbox.lua "$BASE"
echo "== POST /api/v1/documents/{id}/progress"
wrk -t2 -c32 -d"$DURATION" --latency -s progress.lua "$BASE"
rm -f tokens.txt work.txt
