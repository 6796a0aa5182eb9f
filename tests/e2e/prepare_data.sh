# moe prepare on WikiText-2 valid (char tokenizer, split by position and by file names) and on
# Tiny Shakespeare: the shards decode to exactly the text an independent Python implementation of
# the cleaning rules produces, split where the rule says.
source "$(dirname "$0")/common.bash"
WT="$MOE_DATA_DIR/wikitext-2"

# check_prepared DIR SPLIT=FILE... [--raw]: each SPLIT shard decodes to the cleaned FILE (raw
# bytes with --raw); with one file for train+val, the split is by position at 90%.
check_prepared() {
  "$PY" - "$@" <<'PYEOF'
import json, re, struct, sys
d, args = sys.argv[1], sys.argv[2:]
raw = "--raw" in args
args = [a for a in args if a != "--raw"]
meta = json.load(open(f"{d}/meta.json"))
chars = json.load(open(f"{d}/tokenizer.json"))["chars"]
assert meta["vocab_size"] == len(chars), meta
assert meta["eot_id"] is None and meta["tokenizer"] == "char", meta

def shard(name):
    b = open(f"{d}/{name}.bin", "rb").read()
    magic, version, width, n, vocab = struct.unpack("<8sIIQQ", b[:32])
    assert magic == b"MOETOKS\0" and version == 1 and vocab == len(chars), (magic, version, vocab)
    assert width == 2 and len(b) == 32 + 2 * n, (width, len(b), n)
    assert meta["splits"][name]["tokens"] == n and meta["splits"][name]["bytes"] == len(b)
    ids = struct.unpack(f"<{n}H", b[32:])
    return "".join(chars[i] for i in ids), n

ws = " \t\n\r\f\v"
def clean(path):
    text = open(path, encoding="utf-8").read()
    if raw:
        return text
    kept = []
    for line in text.split("\n"):
        line = line.strip(ws)
        if not line or line.startswith("="):
            continue
        line = re.sub(r"[ \t\n\r\f\v]+", " ", line.replace("<unk>", "")).strip(ws)
        if line:
            kept.append(line)
    return "".join(l + "<|endoftext|>" for l in kept)

if len(args) == 1:
    want = clean(args[0])
    (train, nt), (val, nv) = shard("train"), shard("val")
    assert nt == int((nt + nv) * 0.9), (nt, nv)
    assert train + val == want, "decoded shards differ from the cleaned text"
    print(f"ok: {d}: {nt} + {nv} tokens, vocab {len(chars)}, decode = cleaned text")
else:
    for a in args:
        name, path = a.split("=")
        text, n = shard(name)
        assert text == clean(path), f"{name}.bin differs from the cleaned {path}"
        print(f"ok: {d}/{name}.bin: {n} tokens = cleaned {path}")
PYEOF
}

out=$("$MOE_BIN" prepare --dataset wikitext --input "$WT/wiki.valid.tokens" --tokenizer char \
      --out "$WORK/wt" --threads 2 2>"$WORK/progress.txt")
check_prepared "$WORK/wt" "$WT/wiki.valid.tokens"
# The last stdout line is the JSON summary; progress went to stderr as plain lines.
printf '%s\n' "$out" | tail -n 1 | "$PY" -c 'import json, sys; m = json.load(sys.stdin); assert m["dataset"] == "wikitext" and m["split_rule"] == "position", m'
grep -q '^encoding .*bytes' "$WORK/progress.txt" || fail "no progress lines on stderr: $(cat "$WORK/progress.txt")"
grep -q '^vocabulary ' "$WORK/progress.txt" || fail "no vocabulary progress on stderr"

# Files named wiki.train/valid/test are the splits (the test file stands in for the train file,
# which the shared data lacks).
mkdir -p "$WORK/named"
ln -s "$WT/wiki.test.tokens" "$WORK/named/wiki.train.tokens"
ln -s "$WT/wiki.valid.tokens" "$WORK/named/wiki.valid.tokens"
"$MOE_BIN" prepare --dataset wikitext --input "$WORK/named/wiki.train.tokens" \
  "$WORK/named/wiki.valid.tokens" --tokenizer char --out "$WORK/named_out" --quiet >/dev/null
check_prepared "$WORK/named_out" "train=$WT/wiki.test.tokens" "val=$WT/wiki.valid.tokens"

# Tiny Shakespeare, found without --input: raw bytes, 65 characters, the nanoGPT 90/10 split.
"$MOE_BIN" prepare --dataset shakespeare --tokenizer char --out "$WORK/sh" --quiet >/dev/null
check_prepared "$WORK/sh" "$MOE_DATA_DIR/tinyshakespeare/input.txt" --raw
"$PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); assert m["vocab_size"] == 65 and m["splits"]["train"]["tokens"] == 1003854, m' "$WORK/sh/meta.json"

# Thread count does not change a byte.
"$MOE_BIN" prepare --dataset wikitext --input "$WT/wiki.valid.tokens" --tokenizer char \
  --out "$WORK/wt1" --threads 1 --quiet >/dev/null
cmp "$WORK/wt/train.bin" "$WORK/wt1/train.bin" && cmp "$WORK/wt/val.bin" "$WORK/wt1/val.bin" ||
  fail "1 and 2 threads give different shards"
echo "prepare: all cases passed"
