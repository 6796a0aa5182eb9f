# moe tokenize and moe train-tokenizer: output contracts, a self-contained trained tokenizer,
# determinism, and bad input (one "error:" line, exit code 1).
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
WIKI="$MOE_DATA_DIR/wikitext-2/wiki.valid.tokens"

# tokenize: one id per line, special tokens allowed.
printf 'Hello, world!<|endoftext|>' >"$WORK/hello.txt"
[[ $("$M" tokenize --tokenizer gpt2 "$WORK/hello.txt" | tr '\n' ' ') == "15496 11 995 0 50256 " ]] ||
  fail "gpt2 ids of 'Hello, world!<|endoftext|>'"
mkdir -p "$WORK/chars" && printf '{"type": "char", "chars": "abc"}' >"$WORK/chars/tokenizer.json"
printf 'cab' >"$WORK/cab.txt"
[[ $("$M" tokenize --tokenizer "char:$WORK/chars" "$WORK/cab.txt" | tr '\n' ' ') == "2 0 1 " ]] ||
  fail "char ids of 'cab'"
: >"$WORK/empty.txt"
[[ -z $("$M" tokenize --tokenizer gpt2 "$WORK/empty.txt") ]] || fail "ids of an empty file"
echo "ok: tokenize"

# train-tokenizer: a one-line JSON summary and GPT-2-format files that load back.
summary=$("$M" train-tokenizer --input "$WIKI" --vocab-size 1000 --out "$WORK/bpe")
[[ $(printf '%s\n' "$summary" | wc -l) -eq 1 ]] || fail "summary is not one line: $summary"
"$PY" - "$summary" "$WORK/bpe" <<'PYEOF'
import json, sys
s = json.loads(sys.argv[1])
assert s["vocab_size"] == 1000 and s["merges"] == 743, s
assert s["special_tokens"] == ["<|endoftext|>"], s
d = sys.argv[2]
encoder = json.load(open(d + "/encoder.json", encoding="utf-8"))
lines = open(d + "/vocab.bpe", encoding="utf-8").read().split("\n")
assert lines[0] == "#version: 0.2" and lines[-1] == "", lines[:2]
merges = [l.split(" ") for l in lines[1:-1]]
assert len(encoder) == 1000 and len(merges) == 743
assert sorted(encoder.values()) == list(range(1000))
assert encoder["<|endoftext|>"] == 999
for i, (a, b) in enumerate(merges):  # GPT-2's layout: merge i makes token 256 + i
    assert encoder[a + b] == 256 + i, (i, a, b)
assert json.load(open(d + "/tokenizer.json"))["type"] == "bpe"
PYEOF
ids=$("$M" tokenize --tokenizer "bpe:$WORK/bpe" "$WIKI" | wc -l)
((ids > 0 && ids < $(stat -c %s "$WIKI") / 2)) || fail "a 1000-token BPE gave $ids ids"
"$M" train-tokenizer --input "$WIKI" --vocab-size 1000 --out "$WORK/bpe2" >/dev/null
for f in encoder.json vocab.bpe tokenizer.json; do
  cmp -s "$WORK/bpe/$f" "$WORK/bpe2/$f" || fail "training is not deterministic: $f differs"
done
printf 'x<|sep|>y' >"$WORK/sep.txt"
"$M" train-tokenizer --input "$WORK/sep.txt" --vocab-size 300 --special '<|sep|>' --special '<|pad|>' \
  --out "$WORK/sep" >/dev/null
[[ $("$M" tokenize --tokenizer "bpe:$WORK/sep" "$WORK/sep.txt" | tr '\n' ' ') == "87 256 88 " ]] ||
  fail "special tokens of a trained tokenizer"
# --dataset wikitext trains on the text as moe prepare cleans it: headings, empty lines and <unk>
# gone, each kept line "foo bar" followed by <|endoftext|> (7 + 13 bytes).
for _ in $(seq 50); do printf ' = Heading = \n \n foo <unk> bar \n'; done >"$WORK/wiki.txt"
summary=$("$M" train-tokenizer --dataset wikitext --input "$WORK/wiki.txt" --vocab-size 300 --out "$WORK/wbpe")
[[ $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["input_bytes"])' "$summary") == 1000 ]] ||
  fail "train-tokenizer --dataset wikitext did not train on the cleaned text: $summary"
echo "ok: train-tokenizer"

# Bad input.
expect_error "unknown tokenizer" 'unknown tokenizer "gpt3"' "$M" tokenize --tokenizer gpt3 "$WORK/hello.txt"
expect_error "missing file to tokenize" "cannot open $WORK/none.txt" "$M" tokenize --tokenizer gpt2 "$WORK/none.txt"
expect_error "no GPT-2 files" "looked in /nonexistent/gpt2, ./data/gpt2, ../shared/data/gpt2" \
  bash -c "cd '$WORK' && MOE_DATA_DIR=/nonexistent '$M' tokenize --tokenizer gpt2 hello.txt"
expect_error "missing encoder.json" "cannot open $WORK/nothing/encoder.json" "$M" tokenize --tokenizer "bpe:$WORK/nothing" "$WORK/hello.txt"
broken() { rm -rf "$WORK/$1"; cp -r "$WORK/bpe" "$WORK/$1"; echo "$WORK/$1"; }
d=$(broken badjson); printf '{"a": 0,' >"$d/encoder.json"
expect_error "corrupt encoder.json" "$d/encoder.json is not valid JSON" "$M" tokenize --tokenizer "bpe:$d" "$WORK/hello.txt"
d=$(broken header); sed -i '1s/.*/#version: 0.1/' "$d/vocab.bpe"
expect_error "wrong vocab.bpe header" 'does not start with the line "#version: 0.2"' "$M" tokenize --tokenizer "bpe:$d" "$WORK/hello.txt"
d=$(broken unknown); sed -i '2s/.*/Ġt QQQ/' "$d/vocab.bpe"
expect_error "merge naming an unknown token" 'line 2: merge names token "QQQ"' "$M" tokenize --tokenizer "bpe:$d" "$WORK/hello.txt"
d=$(broken truncated); sed -i '$d' "$d/vocab.bpe"
expect_error "vocab.bpe shorter than encoder.json" "do not belong together" "$M" tokenize --tokenizer "bpe:$d" "$WORK/hello.txt"
expect_error "empty corpus" "the training corpus is empty" "$M" train-tokenizer --input "$WORK/empty.txt" --vocab-size 300 --out "$WORK/x"
expect_error "vocab size too small" "vocab size 200 is smaller than the 256 byte tokens + 1 special tokens" \
  "$M" train-tokenizer --input "$WIKI" --vocab-size 200 --out "$WORK/x"
expect_error "bad special token" 'special token "pad" must be written <|name|>' \
  "$M" train-tokenizer --input "$WIKI" --vocab-size 300 --special 'pad' --out "$WORK/x"
expect_error "missing training file" "cannot open $WORK/none.txt" "$M" train-tokenizer --input "$WORK/none.txt" --vocab-size 300 --out "$WORK/x"
[[ ! -e $WORK/x ]] || fail "a failed training wrote $WORK/x"
echo "tokenizer cli: all cases passed"
