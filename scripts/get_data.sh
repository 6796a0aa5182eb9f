#!/usr/bin/env bash
# Fetches the public data moe.cpp trains on and verifies every file against the checksums its
# publishers record (the table in ../shared/data/README.md): Tiny Shakespeare, the GPT-2 BPE files,
# WikiText-2 and WikiText-103 (tokenized and raw).
#
#   scripts/get_data.sh [--out DIR] [--from MIRROR] [NAME...]
#
# NAME: shakespeare, gpt2, wikitext-2, wikitext-2-raw, wikitext-103, wikitext-103-raw
# (default: all). --out DIR (default ./data, where moe looks first) receives the layout
#   tinyshakespeare/input.txt  gpt2/{encoder.json,vocab.bpe}  wikitext-2/wiki.{train,valid,test}.tokens
#   wikitext-2-raw/wiki.*.raw  wikitext-103/...  wikitext-103-raw/...
# --from MIRROR copies from a local directory with that same layout (or holding the WikiText zips)
# instead of downloading, verifying each file present there. A named data set with no file in the
# mirror is an error; files missing from the mirror are listed. A checksum mismatch is an error
# and leaves no copy behind.
set -euo pipefail

OUT=data
FROM=""
NAMES=()
ALL=(shakespeare gpt2 wikitext-2 wikitext-2-raw wikitext-103 wikitext-103-raw)

die() { echo "error: $*" >&2; exit 1; }
note() { echo "get_data: $*" >&2; }

while (($#)); do
  case $1 in
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; OUT=$2; shift 2 ;;
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; FROM=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) NAMES+=("$1"); shift ;;
  esac
done
EXPLICIT=$((${#NAMES[@]} > 0))
((EXPLICIT)) || NAMES=("${ALL[@]}")
for n in "${NAMES[@]}"; do
  [[ " ${ALL[*]} " == *" $n "* ]] || die "unknown data set '$n' (known: ${ALL[*]})"
done
[[ -z $FROM || -d $FROM ]] || die "mirror directory $FROM does not exist"
mkdir -p "$OUT"

# verify FILE ALGO EXPECTED [remove]: dies naming the file when its sha256/sha1 differs (and
# deletes it first with "remove": a failed download leaves nothing behind).
verify() {
  local file=$1 algo=$2 want=$3 got
  got=$("${algo}sum" "$file" | cut -d' ' -f1)
  [[ $got == "$want" ]] && return 0
  [[ ${4:-} == remove ]] && rm -f "$file"
  die "checksum mismatch for $file: $algo is $got, expected $want"
}

# download DEST URL...: the first URL that answers, into DEST.part (renamed by the caller).
download() {
  local dest=$1; shift
  local url
  for url in "$@"; do
    note "downloading $url"
    if curl -fsSL --retry 2 -o "$dest.part" "$url"; then return 0; fi
    note "failed: $url"
  done
  rm -f "$dest.part"
  die "cannot download $(basename "$dest") from any of: $*"
}

# obtain REL ALGO HASH URL...: puts OUT/REL in place, verified. With --from, copies MIRROR/REL
# (returns 1 when the mirror lacks it); otherwise downloads it unless a verified copy is there.
obtain() {
  local rel=$1 algo=$2 hash=$3; shift 3
  local dest=$OUT/$rel
  mkdir -p "$(dirname "$dest")"
  if [[ -n $FROM ]]; then
    [[ -f $FROM/$rel ]] || return 1
    verify "$FROM/$rel" "$algo" "$hash"
    cp "$FROM/$rel" "$dest.part"
  else
    if [[ -f $dest ]] && [[ $("${algo}sum" "$dest" | cut -d' ' -f1) == "$hash" ]]; then
      note "$dest: present, verified"
      return 0
    fi
    download "$dest" "$@"
    verify "$dest.part" "$algo" "$hash" remove
  fi
  mv "$dest.part" "$dest"
  note "$dest: ok ($algo verified)"
}

# files_set NAME REL:ALGO:HASH:URL...: a data set of single files (URL may hold ':' after it).
files_set() {
  local name=$1; shift
  local present=0 missing=() spec rel algo hash url
  for spec in "$@"; do
    IFS=: read -r rel algo hash url <<<"$spec"
    if obtain "$rel" "$algo" "$hash" "$url"; then present=$((present + 1)); else missing+=("$rel"); fi
  done
  finish_set "$name" "$present" "${missing[@]}"
}

# finish_set NAME PRESENT MISSING...: reports files a mirror lacked.
finish_set() {
  local name=$1 present=$2; shift 2
  (($# == 0)) && return 0
  if ((present == 0)); then
    ((EXPLICIT)) && die "missing file: $FROM has no file of $name (looked for $*)"
    note "$name: not in $FROM, skipped"
  else
    note "$name: not in $FROM: $*"
  fi
}

# wikitext_set NAME ZIP ZIP_SHA1 DIR FILE:SHA1...: the zip from the S3 bucket the dataset was
# published in, or from wikitext.smerity.com (the bucket may refuse: see shared/data/README.md),
# verified, unpacked, and each file in it verified. With --from, the zip if the mirror has it,
# else the unpacked files present there.
wikitext_set() {
  local name=$1 zip=$2 zip_sha1=$3 dir=$4; shift 4
  local spec file sha1 present=0 missing=()
  if [[ -z $FROM ]]; then
    # Already unpacked and intact: nothing to fetch.
    for spec in "$@"; do
      IFS=: read -r file sha1 <<<"$spec"
      [[ -f $OUT/$dir/$file && $(sha1sum "$OUT/$dir/$file" | cut -d' ' -f1) == "$sha1" ]] ||
        present=-1
    done
    if ((present == 0)); then
      note "$name: present, verified"
      return 0
    fi
    present=0
  fi
  if [[ -z $FROM ]] || [[ -f $FROM/$zip ]]; then
    obtain "$zip" sha1 "$zip_sha1" "https://s3.amazonaws.com/research.metamind.io/wikitext/$zip" \
      "https://wikitext.smerity.com/$zip"
    unzip -q -o "$OUT/$zip" -d "$OUT"
    rm -f "$OUT/$zip"
    for spec in "$@"; do
      IFS=: read -r file sha1 <<<"$spec"
      [[ -f $OUT/$dir/$file ]] || die "missing file: $zip holds no $dir/$file"
      verify "$OUT/$dir/$file" sha1 "$sha1" remove
    done
    note "$name: ok (zip and $# files sha1 verified)"
    return 0
  fi
  for spec in "$@"; do
    IFS=: read -r file sha1 <<<"$spec"
    if obtain "$dir/$file" sha1 "$sha1"; then present=$((present + 1)); else missing+=("$dir/$file"); fi
  done
  finish_set "$name" "$present" "${missing[@]}"
}

# Checksums: sha256 for Tiny Shakespeare and the GPT-2 files, the SHA-1s gluon-nlp records for
# WikiText (shared/data/README.md lists their sources).
for n in "${NAMES[@]}"; do
  case $n in
    shakespeare)
      files_set shakespeare \
        "tinyshakespeare/input.txt:sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed:https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt" ;;
    gpt2)
      files_set gpt2 \
        "gpt2/encoder.json:sha256:196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783:https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json" \
        "gpt2/vocab.bpe:sha256:1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5:https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe" ;;
    wikitext-2)
      wikitext_set wikitext-2 wikitext-2-v1.zip 3c914d17d80b1459be871a5039ac23e752a53cbe wikitext-2 \
        wiki.train.tokens:863f29c46ef9d167fff4940ec821195882fe29d1 \
        wiki.valid.tokens:0418625c8b4da6e4b5c7a0b9e78d4ae8f7ee5422 \
        wiki.test.tokens:c7b8ce0aa086fb34dab808c5c49224211eb2b172 ;;
    wikitext-2-raw)
      wikitext_set wikitext-2-raw wikitext-2-raw-v1.zip 3b6993c138fc61c95f7fffd900fef68f8411371d wikitext-2-raw \
        wiki.train.raw:d33faf256327882db0edc7c67cd098d1051a2112 \
        wiki.valid.raw:db78d4db83700cba1b1bf4a9381087043db2876d \
        wiki.test.raw:6f1fe2054a940eebfc76b284b09680763b37f5ea ;;
    wikitext-103)
      wikitext_set wikitext-103 wikitext-103-v1.zip 0aec09a7537b58d4bb65362fee27650eeaba625a wikitext-103 \
        wiki.train.tokens:b7497e2dfe77e72cfef5e3dbc61b7b53712ac211 \
        wiki.valid.tokens:c326ac59dc587676d58c422eb8a03e119582f92b \
        wiki.test.tokens:8a5befc548865cec54ed4273cf87dbbad60d1e47 ;;
    wikitext-103-raw)
      wikitext_set wikitext-103-raw wikitext-103-raw-v1.zip 86f2375181b9247049d9c9205fad2b71b274b568 wikitext-103-raw \
        wiki.train.raw:3d06627c15e834408cfee91293f862c11c1cc9ef \
        wiki.valid.raw:db78d4db83700cba1b1bf4a9381087043db2876d \
        wiki.test.raw:6f1fe2054a940eebfc76b284b09680763b37f5ea ;;
  esac
done
note "done: $OUT"
