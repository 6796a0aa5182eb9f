// Byte-level BPE tokenizers in Hugging Face's files: vocab.json and merges.txt (GPT-2's
// encoder.json and vocab.bpe under their Hugging Face names), tokenizer.json (the `tokenizers`
// library's format: BPE model, ByteLevel pre-tokenizer and decoder) and tokenizer_config.json.
//
// Encoding matches where the two libraries' rules agree: tokenizers merges the pairs merges.txt
// lists, lowest rank first, after looking a whole piece up in the vocabulary (ignore_merges);
// ours follows tiktoken, which also merges two parts whose concatenation is a token that a
// different pair made (docs/ARCHITECTURE.md, "Tokenizers"). For GPT-2 and tokenizers trained here
// each token is made by one merge, and the two differ only on rare pieces.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/byte_bpe.h"

namespace moe {

// Writes DIR/vocab.json, DIR/merges.txt, DIR/tokenizer.json and DIR/tokenizer_config.json;
// `max_length` is the model's context (model_max_length).
void write_hf_tokenizer(const std::string& dir, const BpeTokenizer& tokenizer, int64_t max_length);

// Reads the byte-level BPE tokenizer of a Hugging Face folder: tokenizer.json when present (it
// must be a BPE model with the ByteLevel pre-tokenizer, no normalizer), else vocab.json +
// merges.txt. Anything else (SentencePiece, WordPiece, a missing tokenizer) is refused by name.
std::unique_ptr<BpeTokenizer> read_hf_tokenizer(const std::string& dir);

}  // namespace moe
