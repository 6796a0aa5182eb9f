// Runs an exported GGUF file with llama.cpp (node-llama-cpp's prebuilt CPU binary), for the GGUF
// export tests (tests/e2e/gguf_export.sh):
//
//   node llama.mjs MODEL.gguf tokenize TEXT_FILE        ids of the file's text, one per line
//   node llama.mjs MODEL.gguf nll IDS_FILE BLOCK        {"loss", "tokens"}: mean next-token
//       negative log-likelihood over the non-overlapping BLOCK-token windows from the start
//       (window w: inputs ids[w*BLOCK ..], targets one further), as `moe eval --contiguous` scores
//   node llama.mjs MODEL.gguf greedy IDS_FILE N         the text of N greedy tokens after the ids
//
// The context is created the way that makes llama.cpp compute what moe.cpp computes: CPU only,
// flash attention off, f32 KV cache, and one cell more than the model's window, since
// node-llama-cpp keeps a cell free and would otherwise shift the context silently. Each window
// starts from an empty KV cache.
import fs from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, command, ...args] = process.argv.slice(2);
const llama = await getLlama({
  gpu: false,
  build: "never",
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  logLevel: LlamaLogLevel.error,
  maxThreads: 2,
});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const readIds = (path) => fs.readFileSync(path, "utf8").split("\n").filter((l) => l !== "").map(Number);

async function openSequence() {
  const block = Number(model.fileInfo.metadata.llama.context_length);
  const context = await model.createContext({
    contextSize: block + 1,
    batchSize: block + 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
    threads: 2,
  });
  return {context, sequence: context.getSequence()};
}

if (command === "tokenize") {
  const ids = model.tokenize(fs.readFileSync(args[0], "utf8"), true);
  process.stdout.write(ids.join("\n") + "\n");
} else if (command === "nll") {
  const ids = readIds(args[0]);
  const block = Number(args[1]);
  const {sequence} = await openSequence();
  let sum = 0, count = 0;
  for (let start = 0; start + block < ids.length; start += block) {
    await sequence.clearHistory();
    const input = ids.slice(start, start + block).map((t) => [t, {generateNext: {probabilities: true}}]);
    const out = await sequence.controlledEvaluate(input);
    for (let i = 0; i < block; ++i) {
      const p = out[i].next.probabilities.get(ids[start + i + 1]) ?? 0;
      sum -= Math.log(p);
      ++count;
    }
  }
  process.stdout.write(JSON.stringify({loss: sum / count, tokens: count}) + "\n");
} else if (command === "greedy") {
  const ids = readIds(args[0]);
  const n = Number(args[1]);
  const {sequence} = await openSequence();
  const generated = [];
  for await (const token of sequence.evaluate(ids, {temperature: 0})) {
    if (model.isEogToken(token)) break;
    generated.push(token);
    if (generated.length === n) break;
  }
  process.stdout.write(model.detokenize(generated));
} else {
  throw new Error(`unknown command ${command} (tokenize, nll, greedy)`);
}
await llama.dispose();
