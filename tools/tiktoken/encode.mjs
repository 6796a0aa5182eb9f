// Prints the ids of js-tiktoken's "gpt2" encoding of a UTF-8 file, one per line, with every
// special token allowed in the text (tiktoken's allowed_special="all").
// Usage: node encode.mjs FILE
import { readFileSync } from "node:fs";
import { getEncoding } from "js-tiktoken";

const text = readFileSync(process.argv[2], "utf8");
const ids = getEncoding("gpt2").encode(text, "all");
process.stdout.write(ids.length ? ids.join("\n") + "\n" : "");
