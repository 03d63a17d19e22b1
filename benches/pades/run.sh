#!/usr/bin/env bash
# Signing (and, with `pdf verify` built, verification) against pyHanko:
# same files, same machine, one run. Our whole CLI process (start-up
# included, hyperfine -N) against pyHanko in-process.
#
#   bash benches/pades/run.sh            # needs hyperfine, GNU time, pyHanko
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
B=${CARGO_TARGET_DIR:-target}/release/congvan
K=keys-dev
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
python3 benches/pades/make_pdf.py 100000 "$W/100k.pdf"
python3 benches/pades/make_pdf.py 20000000 "$W/20m.pdf"
sign="$B pdf sign --key $K/lanhdao.key.pem --cert $K/lanhdao.cert.pem --chain $K/chain.pem"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for f in 100k 20m; do
  runs=$([ "$f" = 100k ] && echo 100 || echo 10)
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$W/$f.json" \
    "$sign $W/$f.pdf $W/$f-signed.pdf" >/dev/null
  python3 - "$W/$f.json" "$f" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"congvan sign {sys.argv[2]}: p50 {r['median']*1000:.2f} ms, mean {r['mean']*1000:.2f} ms, "
      f"{1/r['median']:.0f} signatures/s")
PY
  if "$B" pdf verify --help >/dev/null 2>&1; then
    hyperfine -N --warmup 3 --runs "$runs" --export-json "$W/$f-v.json" \
      "$B pdf verify --trust $K/root-ca.cert.pem --crl $K/intermediate-ca.crl $W/$f-signed.pdf" >/dev/null
    python3 - "$W/$f-v.json" "$f" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"congvan verify {sys.argv[2]}: p50 {r['median']*1000:.2f} ms, {1/r['median']:.0f} verifications/s")
PY
  fi
  python3 benches/pades/pyhanko_bench.py "$K" "$W/$f.pdf" "$([ "$f" = 100k ] && echo 30 || echo 5)" 2>/dev/null
done
/usr/bin/time -f "congvan sign 20m: peak RSS %M KiB" $sign "$W/20m.pdf" "$W/20m-signed.pdf" >/dev/null
echo "20m input: $(stat -c %s "$W/20m.pdf") bytes"
