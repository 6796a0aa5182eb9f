# moe prepare on bad input: one "error: ..." line, a non-zero exit, and no meta.json (the
# directory does not read as prepared).
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
P=(prepare --quiet --out "$WORK/out")
: >"$WORK/empty.txt"
printf ' \n = Heading = \n <unk> \n\n' >"$WORK/headings.txt"
printf 'some text\n' >"$WORK/ok.txt"

expect_error "empty corpus" "$WORK/empty.txt is empty" "$M" "${P[@]}" --dataset wikitext --input "$WORK/empty.txt" --tokenizer char
expect_error "nothing left after cleaning" "empty after cleaning" "$M" "${P[@]}" --dataset wikitext --input "$WORK/headings.txt" --tokenizer char
expect_error "missing input" "$WORK/none.txt does not exist" "$M" "${P[@]}" --dataset text --input "$WORK/none.txt" --tokenizer char
expect_error "unknown dataset" "unknown dataset 'books'" "$M" "${P[@]}" --dataset books --input "$WORK/ok.txt" --tokenizer char
expect_error "unknown tokenizer" "unknown tokenizer" "$M" "${P[@]}" --dataset text --input "$WORK/ok.txt" --tokenizer sentencepiece
expect_error "char tokenizer dir without vocabulary" "$WORK/nothing/tokenizer.json" "$M" "${P[@]}" --dataset text --input "$WORK/ok.txt" --tokenizer "char:$WORK/nothing"
expect_error "no input" "no input files" "$M" "${P[@]}" --dataset text --tokenizer char
expect_error "val fraction" "--val-fraction: expects a number from 0 to 1, got '1.5'" "$M" "${P[@]}" --dataset text --input "$WORK/ok.txt" --tokenizer char --val-fraction 1.5
expect_error "val fraction 0" "(0, 1)" "$M" "${P[@]}" --dataset text --input "$WORK/ok.txt" --tokenizer char --val-fraction 0
expect_error "missing --out" "--out" "$M" prepare --dataset text --input "$WORK/ok.txt" --tokenizer char
[[ ! -e "$WORK/out/meta.json" ]] || fail "a failed prepare left meta.json"
echo "prepare bad input: all cases passed"
