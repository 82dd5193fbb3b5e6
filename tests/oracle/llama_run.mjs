// llama_run: load a GGUF with node-llama-cpp (CPU build) and print greedy token ids as JSON.
// usage: node oracle/llama_run.mjs MODEL.gguf [--mmap true|false] [--tokens N]
//        [--prompt 1,300,301]   (prompt token ids; default: <s> and three word tokens)
// stdout: {"prompt":[...],"tokens":[...],"mmap":bool}
// exit 1 with llama.cpp's warnings/errors on stderr when the model does not load.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function parseArgs(argv) {
    const a = { model: null, mmap: true, n: 8, prompt: [1, 259, 260, 262] };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        if (k === "--mmap") a.mmap = argv[++i] === "true";
        else if (k === "--tokens") a.n = Number(argv[++i]);
        else if (k === "--prompt") a.prompt = argv[++i].split(",").map(Number);
        else if (!a.model) a.model = k;
        else throw new Error(`unexpected argument ${k}`);
    }
    if (!a.model) throw new Error("usage: llama_run.mjs MODEL.gguf [--mmap true|false]");
    return a;
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const logs = [];
    const llama = await getLlama({
        gpu: false, build: "never", logLevel: LlamaLogLevel.warn,
        logger: (level, msg) => logs.push(`[${level}] ${msg}`),
    });
    let model;
    try {
        model = await llama.loadModel({ modelPath: a.model, useMmap: a.mmap, gpuLayers: 0 });
    } catch (err) {
        process.stderr.write(`load failed: ${err.message}\n${logs.join("")}\n`);
        process.exit(1);
    }
    const ctx = await model.createContext({ contextSize: 64, batchSize: 16, threads: 1 });
    const seq = ctx.getSequence();
    const out = [];
    for await (const tok of seq.evaluate(a.prompt, { temperature: 0 })) {
        out.push(tok);
        if (out.length >= a.n) break;
    }
    process.stdout.write(JSON.stringify({ prompt: a.prompt, tokens: out, mmap: a.mmap }) + "\n");
    await ctx.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((err) => {
    process.stderr.write(`llama_run: ${err.stack || err}\n`);
    process.exit(1);
});
