// Times js-tiktoken's "gpt2" encoding of a UTF-8 file on one thread (node is single-threaded):
// one warm-up pass, then the best of REPEATS passes. Prints one JSON line: bytes, tokens,
// seconds, mb_per_s (10^6 bytes per second).
// Usage: node bench.mjs FILE [REPEATS]
import { readFileSync } from "node:fs";
import { getEncoding } from "js-tiktoken";

const path = process.argv[2];
const repeats = Number(process.argv[3] ?? 3);
const bytes = readFileSync(path);
const text = bytes.toString("utf8");
const enc = getEncoding("gpt2");
let tokens = enc.encode(text, "all").length;
let best = Infinity;
for (let r = 0; r < repeats; ++r) {
  const start = process.hrtime.bigint();
  tokens = enc.encode(text, "all").length;
  best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
}
console.log(JSON.stringify({ bytes: bytes.length, tokens, seconds: best, mb_per_s: bytes.length / best / 1e6 }));
