# Hostile flag values: thread counts far beyond any machine, numbers out of range or out of their
# type, empty values, malformed command lines. Each is one short "error: ..." line naming the flag
# and the accepted range, with exit code 1 (CLI11's own codes 104-114 are not ours), never a crash.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
"$M" train "${TINY[@]}" --steps 2 --out "$WORK/good" >/dev/null
TEXT="$WORK/sample.txt"
head -c 5000 "$MOE_DATA_DIR/tinyshakespeare/input.txt" >"$TEXT"
"$M" prepare --quiet --dataset text --input "$TEXT" --tokenizer char --out "$WORK/prep" >/dev/null
printf '[model]\nn_layers = 2\nn_embed = 32\nn_heads = 4\nffn_hidden = 64\nblock_size = 16\n[train]\nbatch_size = 4\neval_iters = 2\n' >"$WORK/a.toml"

# --threads: 0 (all cores) to 1024 for every command; 100,000 crashed the OpenMP runtime.
THREADS="--threads: expects an integer from 0 to 1024, got '100000'"
expect_error "generate --threads" "$THREADS" "$M" generate --checkpoint "$WORK/good" --threads 100000
expect_error "tokenize --threads" "$THREADS" "$M" tokenize --tokenizer char:"$WORK/prep" "$TEXT" --threads 100000
expect_error "prepare --threads" "$THREADS" "$M" prepare --quiet --dataset text --input "$TEXT" --tokenizer char --out "$WORK/x" --threads 100000
expect_error "train --threads" "$THREADS" "$M" train "${TINY[@]}" --steps 1 --out "$WORK/x" --threads 100000
expect_error "eval --threads" "$THREADS" "$M" eval --checkpoint "$WORK/good" --text "$TEXT" --threads 100000
expect_error "compare --threads" "$THREADS" "$M" compare --configs "$WORK/a.toml" --out "$WORK/x" --threads 100000
expect_error "train.threads" "config value train.threads = 100000 is out of range [0, 1024]" "$M" train --preset makemoe --set train.threads=100000 --out "$WORK/x"
expect_error "negative --threads" "--threads: expects an integer from 0 to 1024, got '-2'" "$M" tokenize --tokenizer char:"$WORK/prep" "$TEXT" --threads -2
"$M" tokenize --tokenizer char:"$WORK/prep" "$TEXT" --threads 0 >/dev/null
echo "ok: --threads 0 means all cores"

# Steps, ranges and numbers outside their type.
expect_error "--steps 0" "--steps: expects an integer from 1 to 9223372036854775807, got '0'" "$M" train "${TINY[@]}" --steps 0 --out "$WORK/x"
expect_error "train.steps 0" "config value train.steps = 0 is out of range [1, " "$M" train "${TINY[@]}" --set train.steps=0 --out "$WORK/x"
expect_error "compare --steps 0" "--steps: expects an integer from 1 to" "$M" compare --configs "$WORK/a.toml" --out "$WORK/x" --steps 0
expect_error "--top-p 2" "--top-p: expects a number from 0 to 1, got '2'" "$M" generate --checkpoint "$WORK/good" --top-p 2
expect_error "--top-k -5" "--top-k: expects an integer from 0 to 2147483647, got '-5'" "$M" generate --checkpoint "$WORK/good" --top-k -5
expect_error "--temperature nan" "--temperature: expects a number from 0 to" "$M" generate --checkpoint "$WORK/good" --temperature nan
expect_error "--max-new-tokens beyond int64" "--max-new-tokens: expects an integer from 0 to 9223372036854775807, got '99999999999999999999999'" "$M" generate --checkpoint "$WORK/good" --max-new-tokens 99999999999999999999999
expect_error "--steps not a number" "--steps: expects an integer from 1 to 9223372036854775807, got '1e3'" "$M" train "${TINY[@]}" --steps 1e3 --out "$WORK/x"
expect_error "--batch-size beyond its bound" "--batch-size: expects an integer from 0 to 1048576" "$M" eval --checkpoint "$WORK/good" --text "$TEXT" --batch-size 4611686018427387904
expect_error "--vocab-size beyond int32" "--vocab-size: expects an integer from 0 to 2147483647" "$M" train-tokenizer --input "$TEXT" --vocab-size 4294967296 --out "$WORK/x"
expect_error "--val-fraction" "--val-fraction: expects a number from 0 to 1, got 'inf'" "$M" prepare --quiet --dataset text --input "$TEXT" --tokenizer char --out "$WORK/x" --val-fraction inf

# Seeds: above 2^64 - 1 (or 2^63 - 1 for the int64 ones) is an error, not a clamp.
expect_error "generate --seed 2^64" "--seed: expects an integer from 0 to 2^64 - 1, got '18446744073709551616'" "$M" generate --checkpoint "$WORK/good" --seed 18446744073709551616
expect_error "generate --seed -1" "--seed: expects an integer from 0 to 2^64 - 1, got '-1'" "$M" generate --checkpoint "$WORK/good" --seed -1
"$M" generate --checkpoint "$WORK/good" --seed 18446744073709551615 --max-new-tokens 3 --prompt "A" >/dev/null 2>&1 || fail "the largest seed is refused"
expect_error "train --seed 2^63" "--seed: expects an integer from -9223372036854775808 to 9223372036854775807, got '9223372036854775808'" "$M" train "${TINY[@]}" --steps 1 --seed 9223372036854775808 --out "$WORK/x"
expect_error "train.seed beyond int64" "config key 'train.seed' = 99999999999999999999 is outside the 64-bit integer range" "$M" train "${TINY[@]}" --steps 1 --set train.seed=99999999999999999999 --out "$WORK/x"
expect_error "eval --seed beyond int64" "--seed: expects an integer from -9223372036854775808" "$M" eval --checkpoint "$WORK/good" --text "$TEXT" --seed 9999999999999999999999

# Empty values that would read as "not given".
expect_error "--data ''" "--data: expects a value, got ''" "$M" train "${TINY[@]}" --steps 1 --data "" --out "$WORK/x"
expect_error "report --out ''" "--out: expects a value, got ''" "$M" report "$WORK/good" --out ""
expect_error "eval --split" "--split: " "$M" eval --checkpoint "$WORK/good" --data "$WORK/prep" --split nope

# Malformed command lines exit 1 too.
expect_error "no subcommand" "A subcommand is required" "$M"
expect_error "unknown subcommand" "A subcommand is required" "$M" nope
expect_error "missing required flag" "--checkpoint is required" "$M" generate
expect_error "flag without its value" "--steps" "$M" train --steps
expect_error "unknown flag" "--bogus" "$M" info --checkpoint "$WORK/good" --bogus
[[ ! -e "$WORK/x" ]] || fail "a refused command wrote $WORK/x"
echo "hostile flags: all cases passed"
