// llama.cpp as an oracle: teacher-forced logits of a GGUF for given token ids, every position.
//   node tests/js/llama_logits.mjs MODEL.gguf 1,2,3 N_VOCAB OUT.f32 [--token-by-token]
// Writes OUT.f32: float32 little-endian [n_tokens, N_VOCAB], row t = the raw logits after tokens[0..t]
// (each position must give exactly N_VOCAB of them, one per token id). CPU only (the prebuilt binding, never a build),
// F32 KV cache, no flash attention, the whole sequence in one batch unless --token-by-token.
import {writeFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, tokenList, nVocabText, outPath, ...flags] = process.argv.slice(2);
const nVocab = Number(nVocabText);
if (!modelPath || !tokenList || !Number.isInteger(nVocab) || !outPath || flags.some((f) => f !== "--token-by-token")) {
    console.error("usage: node llama_logits.mjs MODEL.gguf TOKEN,TOKEN,... N_VOCAB OUT.f32 [--token-by-token]");
    process.exit(2);
}
const tokens = tokenList.split(",").map(Number);
if (tokens.some((t) => !Number.isInteger(t) || t < 0)) {
    console.error(`token ids must be non-negative integers: ${tokenList}`);
    process.exit(2);
}
const tokenByToken = flags.includes("--token-by-token");

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const contextSize = Math.ceil((tokens.length + 1) / 256) * 256;
const context = await model.createContext({
    contextSize, batchSize: contextSize, sequences: 1, threads: 2, flashAttention: false,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", swaFullCache: true,
});
const sequence = context.getSequence();
const wantLogits = (token) => [token, {generateNext: {logits: true}}];

let results;
if (tokenByToken) {
    results = [];
    for (const token of tokens) results.push((await sequence.controlledEvaluate([wantLogits(token)]))[0]);
} else {
    results = await sequence.controlledEvaluate(tokens.map(wantLogits));
}

const out = new Float32Array(tokens.length * nVocab);
results.forEach((result, row) => {
    const logits = result?.next?.logits;
    if (!logits || logits.size !== nVocab) {
        console.error(`position ${row}: ${logits ? logits.size : "no"} logits, expected ${nVocab}`);
        process.exit(1);
    }
    for (const [token, value] of logits) {
        if (!(token >= 0 && token < nVocab)) {
            console.error(`position ${row}: a logit for token ${token}, outside 0..${nVocab - 1}`);
            process.exit(1);
        }
        out[row * nVocab + token] = value;
    }
});
writeFileSync(outPath, Buffer.from(out.buffer));
await context.dispose();
await model.dispose();
await llama.dispose();
