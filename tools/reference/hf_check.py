#!/usr/bin/python3
"""Loads a folder written by `moe export --format hf` with the real Hugging Face transformers and
compares its logits with ours.

Usage:
  hf_check.py HF_DIR LOGITS [--text FILE --ids FILE]

LOGITS is a safetensors file with tokens (B, T) I32 and logits (B, T, V) F32, as
tests/tools/hf_logits writes them for the checkpoint that was exported. The model is loaded with
AutoModelForCausalLM.from_pretrained in float64 and must give the same logits (norm-wise relative
error <= 1e-4). With --text and --ids, AutoTokenizer must encode FILE to the ids (one a line) that
`moe tokenize` printed for it, and decode them back to the text.

Needs torch, transformers and safetensors (e.g. a GPU machine's image); the end-to-end test
tests/e2e/hf_interop.sh runs it when /usr/bin/python3 has transformers. Exit status: 0 pass, 1 fail.
"""

import argparse
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

TOLERANCE = 1e-4


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir")
    parser.add_argument("logits")
    parser.add_argument("--text")
    parser.add_argument("--ids")
    args = parser.parse_args()

    case = load_file(args.logits)
    tokens, ours = case["tokens"].long(), case["logits"].double()
    model = AutoModelForCausalLM.from_pretrained(args.dir, torch_dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        ref = model(input_ids=tokens).logits
    err = float((ours - ref).norm() / ref.norm())
    ok = err <= TOLERANCE
    print(f"transformers {type(model).__name__}: logits rel err {err:.3e} "
          f"{'ok' if ok else 'FAIL'}")

    if args.text and args.ids:
        tokenizer = AutoTokenizer.from_pretrained(args.dir)
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
        with open(args.ids, encoding="utf-8") as f:
            want = [int(line) for line in f if line.strip()]
        got = tokenizer(text)["input_ids"]
        same = got == want
        round_trip = tokenizer.decode(want) == text
        print(f"transformers {type(tokenizer).__name__}: {len(got)} ids, "
              f"{'same as ours' if same else 'DIFFERENT from ours'}, decode "
              f"{'round-trips' if round_trip else 'DIFFERS'}")
        ok = ok and same and round_trip
    print(f"hf_check: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
