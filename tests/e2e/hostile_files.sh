# Hostile files: JSON nested 100,000 deep in every JSON input, FIFOs and devices where a file is
# read or written, a lost tokenizer or a changed corpus on resume, meta.json values of the wrong
# type, empty TOML files, GPT-2's vocab.bpe with CRLF line ends. Each is one "error: ..." line and
# exit code 1 (CRLF: the same ids as the LF file), never a crash, and the good checkpoint is
# untouched.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
"$M" train "${TINY[@]}" --steps 4 --eval-every 4 --out "$WORK/good" >/dev/null
ckpt_sum() { (cd "$WORK/good/checkpoint" && sha256sum ./* | sha256sum); }
before=$(ckpt_sum)
# A copy of the checkpoint to damage. Its manifest.json goes: the checksums would name the edited
# file before any parser read it, and these cases are about the parsers.
damaged() {
  rm -rf "$WORK/$1"; cp -r "$WORK/good/checkpoint" "$WORK/$1"; rm -f "$WORK/$1/manifest.json"
  echo "$WORK/$1"
}
DEEP_MSG="nests arrays and objects more than 64 deep"

# set_json FILE LINE KEY... VALUE: sets FILE's line LINE (1-based; 0: the whole file) at the key
# path to VALUE, given as JSON text; "DEEP" stands for an array nested 100,000 deep.
set_json() {
  "$PY" - "$@" <<'PYEOF'
import json, sys
path, line, *keys, value = sys.argv[1:]
deep = "[" * 100000 + "]" * 100000
lines = open(path).read().split("\n")
i = int(line) - 1
doc = json.loads("\n".join(lines) if i < 0 else lines[i])
marker = "\u0001VALUE\u0001"
node = doc
for k in keys[:-1]:
    node = node[k]
node[keys[-1]] = marker
text = json.dumps(doc).replace(json.dumps(marker), deep if value == "DEEP" else value)
if i < 0:
    lines = [text]
else:
    lines[i] = text
open(path, "w").write("\n".join(lines))
PYEOF
}

# set_header FILE KEY DEEP: nests one tensor's KEY in a safetensors header 100,000 deep.
set_header() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
path, key = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
name = next(k for k in header if k != "__metadata__")
header[name][key] = "\u0001"
text = json.dumps(header).replace('"\\u0001"', "[" * 100000 + "]" * 100000)
text += " " * ((8 - len(text) % 8) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text.encode() + data[8 + n:])
PYEOF
}

# Deeply nested JSON in each file that holds JSON.
d=$(damaged deep_shape); set_header "$d/model.safetensors" shape
expect_error "deep safetensors shape" "its header $DEEP_MSG" "$M" info --checkpoint "$d"
d=$(damaged deep_offsets); set_header "$d/model.safetensors" data_offsets
expect_error "deep safetensors data_offsets" "its header $DEEP_MSG" "$M" generate --checkpoint "$d" --max-new-tokens 2
d=$(damaged deep_config); set_json "$d/config.json" 0 model n_layers DEEP
expect_error "deep config.json" "checkpoint config $d/config.json $DEEP_MSG" "$M" info --checkpoint "$d"
d=$(damaged deep_tokenizer); set_json "$d/tokenizer.json" 0 vocab_size DEEP
expect_error "deep tokenizer.json" "tokenizer file $d/tokenizer.json $DEEP_MSG" "$M" info --checkpoint "$d"
rm -rf "$WORK/deep_log"; cp -r "$WORK/good" "$WORK/deep_log"
set_json "$WORK/deep_log/metrics.jsonl" 1 config model arch DEEP
expect_error "deep metrics.jsonl start record" "metrics.jsonl line 1 $DEEP_MSG" "$M" report "$WORK/deep_log"

# Resuming that run: the report refresh inside training can only warn (resume drops the line it
# cannot read, so the log lacks its start record); training goes on to its end.
err=$("$M" train --resume "$WORK/deep_log" --steps 8 --quiet 2>&1 >/dev/null) || fail "resume with a deep metrics log: $err"
[[ $err == "warning: report.html not updated: "* ]] || fail "resume with a deep metrics log: unexpected stderr: $err"
"$PY" -c 'import json, sys; assert any(r.get("type") == "step" and r.get("step") == 8 for r in map(json.loads, open(sys.argv[1])))' \
  "$WORK/deep_log/metrics.jsonl" || fail "resume did not reach step 8"
"$M" info --checkpoint "$WORK/deep_log" >/dev/null
echo "ok: training with a deep metrics log ran to step 8 and warned"

# Prepared data: meta.json nested and with values of the wrong type.
printf 'To be, or not to be, that is the question.\n%.0s' {1..40} >"$WORK/small.txt"
"$M" prepare --quiet --dataset text --input "$WORK/small.txt" --tokenizer char --out "$WORK/prep" >/dev/null
meta_case() {  # meta_case WHAT FRAGMENT KEY... VALUE
  local what=$1 fragment=$2; shift 2
  rm -rf "$WORK/prep_bad"; cp -r "$WORK/prep" "$WORK/prep_bad"
  set_json "$WORK/prep_bad/meta.json" 0 "$@"
  expect_error "$what" "$fragment" "$M" train "${TINY[@]}" --steps 1 --data "$WORK/prep_bad" --out "$WORK/x"
}
meta_case "deep meta.json" "meta.json $DEEP_MSG" splits train DEEP
meta_case "meta.json version type" "meta.json: \"version\" must be a 64-bit integer, not \"1\"" version '"1"'
meta_case "meta.json tokens type" "meta.json (split \"train\"): \"tokens\" must be a 64-bit integer, not \"12\"" splits train tokens '"12"'
meta_case "meta.json dataset type" "meta.json: \"dataset\" must be a string, not 5" dataset 5

# encoder.json of a BPE tokenizer.
"$M" train-tokenizer --input "$WORK/small.txt" --vocab-size 270 --out "$WORK/bpe" >/dev/null
rm -rf "$WORK/bpe_deep"; cp -r "$WORK/bpe" "$WORK/bpe_deep"
"$PY" -c "import sys; open(sys.argv[1], 'w').write('{\"a\": ' + '[' * 100000 + ']' * 100000 + '}')" "$WORK/bpe_deep/encoder.json"
expect_error "deep encoder.json" "encoder.json $DEEP_MSG" "$M" tokenize --tokenizer "bpe:$WORK/bpe_deep" "$WORK/small.txt"

# Only regular files are read: /dev/zero would grow memory without limit, a FIFO would block.
mkfifo "$WORK/fifo"
NOT_REGULAR="it is a character device, not a regular file"
expect_error "tokenize /dev/zero" "cannot read /dev/zero: $NOT_REGULAR" "$M" tokenize --tokenizer "bpe:$WORK/bpe" /dev/zero
expect_error "tokenize a FIFO" "cannot read $WORK/fifo: it is a FIFO, not a regular file" timeout 20 "$M" tokenize --tokenizer "bpe:$WORK/bpe" "$WORK/fifo"
expect_error "tokenize a directory" "it is a directory, not a regular file" "$M" tokenize --tokenizer "bpe:$WORK/bpe" "$WORK"
expect_error "data.path /dev/zero" "cannot read /dev/zero: $NOT_REGULAR" "$M" train "${TINY[@]}" --steps 1 --set data.source=text --set data.path=/dev/zero --out "$WORK/x"
expect_error "--config /dev/zero" "cannot read /dev/zero: $NOT_REGULAR" "$M" train --config /dev/zero --out "$WORK/x"
expect_error "prepare /dev/zero" "cannot read /dev/zero: $NOT_REGULAR" "$M" prepare --quiet --dataset text --input /dev/zero --tokenizer char --out "$WORK/x"
expect_error "eval --text /dev/zero" "cannot read /dev/zero: $NOT_REGULAR" "$M" eval --checkpoint "$WORK/good" --text /dev/zero
expect_error "train-tokenizer /dev/zero" "cannot read /dev/zero: $NOT_REGULAR" "$M" train-tokenizer --input /dev/zero --vocab-size 300 --out "$WORK/x"
d=$(damaged fifo_weights); rm "$d/model.safetensors"; mkfifo "$d/model.safetensors"
expect_error "weights are a FIFO" "cannot read $d/model.safetensors: it is a FIFO" timeout 20 "$M" info --checkpoint "$d"
# Nor is anything but a regular file replaced by a write.
expect_error "report into a FIFO" "cannot write $WORK/fifo: it is a FIFO, not a regular file" "$M" report "$WORK/good" --out "$WORK/fifo"
[[ -p "$WORK/fifo" ]] || fail "the FIFO was replaced"

# Resume must not change what the data means.
rm -rf "$WORK/notok"; cp -r "$WORK/good" "$WORK/notok"; rm "$WORK/notok/checkpoint/tokenizer.json"
expect_error "resume without tokenizer.json" "has no tokenizer.json, but its data (data.source = shakespeare) needs the tokenizer" "$M" train --resume "$WORK/notok" --steps 8
cp "$WORK/small.txt" "$WORK/corpus.txt"
"$M" train "${TINY[@]}" --steps 4 --set data.source=text --set data.path="$WORK/corpus.txt" --out "$WORK/textrun" >/dev/null
printf 'Caf\xc3\xa9 \xce\xa9 and a quiet zephyr\n' >>"$WORK/corpus.txt"
text_sum=$(cd "$WORK/textrun/checkpoint" && sha256sum ./* | sha256sum)
expect_error "resume on a corpus with new characters" "the text holds 8 characters not in the tokenizer's vocabulary of 17 characters: 'C' (U+0043), 'd' (U+0064), 'f' (U+0066), 'p' (U+0070), 'y' (U+0079), 'z' (U+007A), '$(printf '\xc3\xa9')' (U+00E9), '$(printf '\xce\xa9')' (U+03A9)" "$M" train --resume "$WORK/textrun" --steps 8
[[ $(cd "$WORK/textrun/checkpoint" && sha256sum ./* | sha256sum) == "$text_sum" ]] || fail "the text run's checkpoint changed"

# A TOML file that sets nothing.
: >"$WORK/empty.toml"
expect_error "empty --config" "config file $WORK/empty.toml sets nothing" "$M" train --config "$WORK/empty.toml" --out "$WORK/x"
printf '# no settings\n[model]\n' >"$WORK/tables.toml"
expect_error "--config with empty tables" "sets nothing" "$M" train --config "$WORK/tables.toml" --out "$WORK/x"

# GPT-2's files with CRLF line ends give the ids of the LF files.
mkdir -p "$WORK/gpt2_crlf"
cp "$MOE_DATA_DIR/gpt2/encoder.json" "$WORK/gpt2_crlf/"
sed 's/$/\r/' "$MOE_DATA_DIR/gpt2/vocab.bpe" >"$WORK/gpt2_crlf/vocab.bpe"
grep -q $'\r$' "$WORK/gpt2_crlf/vocab.bpe" || fail "vocab.bpe copy has no CRLF"
head -c 20000 "$MOE_DATA_DIR/tinyshakespeare/input.txt" >"$WORK/sample.txt"
"$M" tokenize --tokenizer gpt2 "$WORK/sample.txt" >"$WORK/lf.ids"
"$M" tokenize --tokenizer "bpe:$WORK/gpt2_crlf" "$WORK/sample.txt" >"$WORK/crlf.ids"
cmp -s "$WORK/lf.ids" "$WORK/crlf.ids" || fail "CRLF vocab.bpe gives other ids"
echo "ok: CRLF vocab.bpe gives the LF ids ($(wc -l <"$WORK/lf.ids") tokens)"

[[ $(ckpt_sum) == "$before" ]] || fail "the good checkpoint changed"
echo "hostile files: all cases passed"
