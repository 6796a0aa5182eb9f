# scripts/get_data.sh --from a local mirror: copies and verifies the files present, reports the
# ones missing; a corrupted mirror file or a data set the mirror lacks is one clear error.
source "$(dirname "$0")/common.bash"
G="$MOE_ROOT/scripts/get_data.sh"

bash "$G" --from "$MOE_DATA_DIR" --out "$WORK/d" shakespeare gpt2 wikitext-2 2>"$WORK/log.txt" ||
  fail "get_data failed: $(cat "$WORK/log.txt")"
for f in tinyshakespeare/input.txt gpt2/encoder.json gpt2/vocab.bpe wikitext-2/wiki.valid.tokens \
         wikitext-2/wiki.test.tokens; do
  cmp "$MOE_DATA_DIR/$f" "$WORK/d/$f" || fail "$f not copied exactly"
done
grep -q 'not in .*wikitext-2/wiki.train.tokens' "$WORK/log.txt" || fail "missing train file not reported: $(cat "$WORK/log.txt")"
[[ -z $(find "$WORK/d" -name '*.part') ]] || fail "temporary files left behind"

# A mirror whose copy of Tiny Shakespeare differs by one byte.
mkdir -p "$WORK/mirror/tinyshakespeare"
cp "$MOE_DATA_DIR/tinyshakespeare/input.txt" "$WORK/mirror/tinyshakespeare/"
chmod u+w "$WORK/mirror/tinyshakespeare/input.txt"
printf 'X' | dd of="$WORK/mirror/tinyshakespeare/input.txt" bs=1 seek=100 conv=notrunc status=none
expect_error "corrupted mirror file" "checksum mismatch for $WORK/mirror/tinyshakespeare/input.txt" \
  bash "$G" --from "$WORK/mirror" --out "$WORK/d2" shakespeare
[[ ! -e "$WORK/d2/tinyshakespeare/input.txt" ]] || fail "a corrupted file was copied"

expect_error "data set not in the mirror" "missing file" bash "$G" --from "$WORK/mirror" --out "$WORK/d2" gpt2
expect_error "unknown data set" "unknown data set 'wikitext-3'" bash "$G" --from "$MOE_DATA_DIR" --out "$WORK/d2" wikitext-3
expect_error "missing mirror" "does not exist" bash "$G" --from "$WORK/nomirror" --out "$WORK/d2"
echo "get_data: all cases passed"
