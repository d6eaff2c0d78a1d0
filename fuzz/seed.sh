#!/usr/bin/env bash
# Seeds the fuzz corpora from the recorded SDK fixtures (../shared/fixtures/python).
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../../shared/fixtures/python
mkdir -p corpus/envelope corpus/decode corpus/event
for f in "$fixtures"/*.envelope; do
  name=$(basename "$f" .envelope)
  cp "$f" "corpus/envelope/$name"
  # decode: first byte picks the encoding (0 = identity, 1 = gzip, 3 = br).
  { printf '\x00'; cat "$f"; } > "corpus/decode/$name.identity"
  [ -f "$f.gz" ] && { printf '\x01'; cat "$f.gz"; } > "corpus/decode/$name.gz"
  [ -f "$f.br" ] && { printf '\x03'; cat "$f.br"; } > "corpus/decode/$name.br"
  # event: the event item's payload (the line after the item header with "type":"event").
  python3 - "$f" "corpus/event/$name" <<'PY'
import json, sys
data = open(sys.argv[1], "rb").read()
lines = data.split(b"\n")
pos = len(lines[0]) + 1
while pos < len(data):
    end = data.find(b"\n", pos)
    end = len(data) if end < 0 else end
    header = json.loads(data[pos:end] or b"{}")
    start = end + 1
    length = header.get("length")
    stop = start + length if length is not None else (data.find(b"\n", start) if data.find(b"\n", start) >= 0 else len(data))
    if header.get("type") == "event":
        open(sys.argv[2], "wb").write(data[start:stop])
        break
    pos = stop + 1
PY
done
find corpus/event -size 0 -delete
echo "seeded: $(ls corpus/envelope | wc -l) envelopes, $(ls corpus/decode | wc -l) bodies, $(ls corpus/event | wc -l) events"
