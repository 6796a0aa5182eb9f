#include "tokenizer/parallel_encode.h"

#include <algorithm>
#include <exception>

#include "core/check.h"
#include "core/threads.h"

namespace moe {

std::vector<size_t> safe_chunk_starts(std::string_view text, size_t target_bytes) {
  const auto printable = [](char c) { return c > ' ' && c < 0x7f; };
  const auto whitespace = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::vector<size_t> starts{0};
  for (size_t pos = std::max<size_t>(target_bytes, 1); pos < text.size(); ++pos) {
    if (whitespace(text[pos]) && printable(text[pos - 1])) {
      starts.push_back(pos);
      pos += std::max<size_t>(target_bytes, 1) - 1;
    }
  }
  return starts;
}

std::vector<int32_t> encode_parallel(const Tokenizer& tokenizer, std::string_view text, int threads,
                                     const std::function<void(size_t, size_t)>& on_progress) {
  // 1 MiB chunks keep every thread busy to the end and give the progress display a steady pace.
  return encode_chunks_parallel(tokenizer, text, safe_chunk_starts(text, size_t{1} << 20), threads,
                                on_progress);
}

std::vector<int32_t> encode_chunks_parallel(
    const Tokenizer& tokenizer, std::string_view text, const std::vector<size_t>& starts,
    int threads, const std::function<void(size_t, size_t)>& on_progress) {
  if (threads <= 0) threads = num_threads();
  const int64_t n_chunks = static_cast<int64_t>(starts.size());
  std::vector<std::vector<int32_t>> chunk_ids(starts.size());
  size_t bytes_done = 0;  // updated inside the critical section only
  // An exception must not leave an OpenMP region (that terminates the program): the error of the
  // first failing chunk is kept and thrown after the loop.
  std::exception_ptr error;
  int64_t error_chunk = n_chunks;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const size_t begin = starts[c];
    const size_t end = c + 1 < n_chunks ? starts[c + 1] : text.size();
    try {
      chunk_ids[c] = tokenizer.encode(text.substr(begin, end - begin));
    } catch (const Error& e) {
#pragma omp critical(encode_parallel_error)
      if (c < error_chunk) {
        error_chunk = c;
        error = std::make_exception_ptr(
            Error(str_cat(e.what(), " (in the chunk starting at byte ", begin, " of the text)")));
      }
    } catch (...) {
#pragma omp critical(encode_parallel_error)
      if (c < error_chunk) {
        error_chunk = c;
        error = std::current_exception();
      }
    }
#pragma omp critical(encode_parallel_progress)
    {
      bytes_done += end - begin;
      if (on_progress) on_progress(bytes_done, text.size());
    }
  }
  if (error) std::rethrow_exception(error);
  size_t total = 0;
  for (const auto& ids : chunk_ids)
    total += ids.size();
  std::vector<int32_t> out;
  out.reserve(total);
  for (const auto& ids : chunk_ids)
    out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

}  // namespace moe
