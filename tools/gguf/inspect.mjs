// Prints what npm's @huggingface/gguf parser reads from a GGUF file, as one JSON object:
// {"metadata": {key: value, ...}, "tensors": [{"name", "shape", "dtype"}, ...]} (shapes in ggml
// order, dtype as ggml's type number; the tokenizer's arrays are reduced to their lengths).
//
//   node inspect.mjs FILE.gguf
import {gguf} from "@huggingface/gguf";

const file = process.argv[2];
const {metadata, tensorInfos} = await gguf(file, {allowLocalFile: true});
const out = {metadata: {}, tensors: []};
for (const [key, value] of Object.entries(metadata))
  out.metadata[key] = Array.isArray(value) ? {length: value.length} : typeof value === "bigint" ? Number(value) : value;
for (const t of tensorInfos)
  out.tensors.push({name: t.name, shape: t.shape.map(Number), dtype: t.dtype});
process.stdout.write(JSON.stringify(out) + "\n");
