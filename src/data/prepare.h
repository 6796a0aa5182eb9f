// `moe prepare`: raw corpus files -> a prepared data directory (see prepared_data.h) that training
// memory-maps. The corpus is read in ~16 MiB pieces and encoded on several threads, and ids go
// straight to the shard files, so memory stays bounded for corpora of hundreds of MB.
//
// Splits:
//  - dataset "wikitext" given a file named wiki.train.* : the files name their splits
//    (wiki.train.* -> train.bin, wiki.valid.* -> val.bin, wiki.test.* -> test.bin; each file
//    as the dataset publishes it), and a validation file is required;
//  - otherwise all inputs, in the order given, form one token stream split by position: the first
//    floor(n * (1 - val_fraction)) tokens train, the rest validate (nanoGPT, makeMoE).
// Each input file is encoded on its own (files are separate documents) and the ids concatenated.
// WikiText text is cleaned (wikitext.h) and each kept line ends with "<|endoftext|>"; the ids are
// those of encoding the whole cleaned text with the tokenizer (the marker becomes the eot special
// token where the tokenizer has one; the character tokenizer spells it out in characters).
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moe {

struct PrepareOptions {
  std::string dataset;  // "wikitext", "text", "shakespeare"
  std::vector<std::string> inputs;
  std::string tokenizer;  // "char" (vocabulary built from the corpus) or an open_tokenizer() spec
  std::string out_dir;
  double val_fraction = 0.1;  // for the position split
  int threads = 0;            // encoding threads; <= 0: all
  // The corpus is read in pieces of about this many bytes, each encoded in 16 chunks or more in
  // parallel. 16 MiB keeps every thread busy and memory bounded; tests use tiny pieces to
  // exercise the cuts.
  size_t piece_bytes = size_t{16} << 20;
};

// on_progress(phase, bytes_done, bytes_total): phase "vocabulary" (char only) or "encoding";
// bytes count input file bytes. Returns the meta.json written.
nlohmann::json prepare_dataset(
    const PrepareOptions& options,
    const std::function<void(const std::string&, size_t, size_t)>& on_progress = {});

}  // namespace moe
