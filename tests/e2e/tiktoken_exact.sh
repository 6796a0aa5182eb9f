# moe tokenize --tokenizer gpt2 gives exactly js-tiktoken's "gpt2" ids (special tokens allowed)
# on WikiText-2 valid and test, Tiny Shakespeare, and an edge-case file written here.
#
# The edge cases leave out U+0085 and U+FEFF, the two code points where JavaScript's \s (used by
# js-tiktoken) differs from Unicode's White_Space (used by OpenAI's tiktoken and by moe.cpp); unit
# tests pin their handling. Random text is drawn from long-assigned blocks so that the Unicode
# versions of PCRE2 and node agree on every letter and digit.
source "$(dirname "$0")/common.bash"
TIKTOKEN="$MOE_ROOT/tools/tiktoken"
[[ -d $TIKTOKEN/node_modules/js-tiktoken ]] ||
  fail "js-tiktoken is not installed: run scripts/setup.sh (npm ci in tools/tiktoken)"

"$PY" - "$WORK/edge.txt" <<'PYEOF'
import random, sys
rng = random.Random(20261125)
fixed = [
    "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family \U0001F44D\U0001F3FD "
    "\U0001F44D\U0001F3FF \U0001F3F3\uFE0F\u200D\U0001F308 \u2764\uFE0F \U0001F1EB\U0001F1F7"
    "\U0001F1E9\U0001F1EA \U0001F9D1\U0001F3FE\u200D\U0001F4BB\U0001F600\U0001F600!\n",
    "\u6f22\u5b57\u304b\u306a\u30ab\u30ca \ud55c\uad6d\uc5b4 \u4e2d\u6587\uff0c\u6807\u70b9\u3002"
    "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002\n",
    "combining: \u00e9 e\u0301 n\u0303 a\u0308\u0301 Z\u0324\u0308 x\u20dd \u0915\u094d\u0937 "
    "\u0e01\u0e33 \u05e9\u05c1\u05b8\n",
    "tabs\there\t\tand\r\nCRLF\r\n\r\nlines\r\n\t\r\n",
    " " * 100 + "x" + "\n" * 50 + "y" + " \t \n \u3000\u00a0 " * 20 + "z" + " " * 1000 + "\n",
    "\u2003\u2003em\u2028line\u2029para\u000bvt\u000cff\u1680ogham\u200bzwsp\u00a0nbsp\n",
    "digits 1234567890123456789012345678901234567890 3.14159 1,000,000 -42 +7 0x1F "
    "\u0663\u0664\u0665 \uff11\uff12\uff13 \u2074\u2075 \u00bd \u2167\n",
    "contractions: it's IT'S It'S don't DON'T we'll WE'LL We'Ll I'm I'M i'D you've YOU'VE "
    "they're THEY'RE 'S 'Ll 'lL 's't're've'm'll'd ''s '''\n",
    "word<|endoftext|>word<|endoftext|> <|endoftext|>\n<|endoftext|><|endoftext|>x "
    "<|endoftext| <|endoftext <|endoftext|>> in<|endoftext|>side\n",
    "punctuation!!! ... ?!?! --- ((()))[]{} \"quotes\" 'single' `back` @#$%^&*_+=~|\\/<> "
    ",,,;;;::: \u2014\u2013\u2026 \u00ab\u00bb \u201c\u201d\n",
    "trailing spaces   \n   leading\n\n\n\n  \n \n",
    # Pieces longer than 64 bytes, which moe.cpp merges with a heap instead of a scan.
    " " + "!" * 1500 + " " + "ab" * 700 + " " + "\u00e9" * 500 + " " + "1234567890" * 100 + "\n",
]
ranges = [(0x20, 0x7E), (0xA1, 0xFF), (0x100, 0x17F), (0x370, 0x3CE), (0x400, 0x4FF),
          (0x5D0, 0x5EA), (0x620, 0x64A), (0x660, 0x669), (0x905, 0x939), (0x966, 0x96F),
          (0xE01, 0xE3A), (0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x9FA5), (0xAC00, 0xD7A3),
          (0x2010, 0x2027), (0x2030, 0x205E), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F),
          (0x300, 0x36F), (0xFF10, 0xFF19), (0x2074, 0x2079)]
spaces = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\n\n", "\u00a0", "\u3000", "\u2003", "\u2028",
          "\u1680", "\u000b", "\u000c", "   \n", "<|endoftext|>", "'s", "'LL"]
words = []
for _ in range(6000):
    lo, hi = ranges[rng.randrange(len(ranges))]
    words.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 12))))
    words.append(rng.choice(spaces))
text = "".join(fixed) + "".join(words)
open(sys.argv[1], "w", encoding="utf-8", newline="").write(text)
PYEOF

check() {
  local name=$1 file=$2
  "$MOE_BIN" tokenize --tokenizer gpt2 "$file" >"$WORK/moe.ids"
  node "$TIKTOKEN/encode.mjs" "$file" >"$WORK/js.ids"
  if ! cmp -s "$WORK/moe.ids" "$WORK/js.ids"; then
    diff "$WORK/moe.ids" "$WORK/js.ids" | head -20 >&2
    fail "$name: moe.cpp and js-tiktoken ids differ"
  fi
  echo "ok: $name: $(wc -l <"$WORK/moe.ids") ids equal to js-tiktoken's"
}
check "WikiText-2 valid" "$MOE_DATA_DIR/wikitext-2/wiki.valid.tokens"
check "WikiText-2 test" "$MOE_DATA_DIR/wikitext-2/wiki.test.tokens"
check "Tiny Shakespeare" "$MOE_DATA_DIR/tinyshakespeare/input.txt"
check "edge cases" "$WORK/edge.txt"
echo "tiktoken exact: all files equal"
