#!/usr/bin/python3
"""llama_load: time node-llama-cpp's loadModel + createContext for a GGUF (CPU, mmap on).
The clock starts after getLlama() (library init) and stops when the context exists.
Prints {"seconds", "load_s", "ctx_s"} as JSON.

usage: llama_load.py MODEL.gguf
"""
import json
import os
import subprocess
import sys
import tempfile

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests")

# node-llama-cpp tests its binding in a forked child that inherits execArgv, so `node -e` does
# not work: the script goes to a temp .mjs that imports the package by absolute URL.
JS = r"""
import { getLlama, LlamaLogLevel } from "@PKG@";
const path = process.argv[2];
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: path, useMmap: true, gpuLayers: 0 });
const t1 = performance.now();
const ctx = await model.createContext({ contextSize: 64, batchSize: 16, threads: 1 });
const t2 = performance.now();
process.stdout.write(JSON.stringify({ seconds: (t2 - t0) / 1e3, load_s: (t1 - t0) / 1e3,
                                      ctx_s: (t2 - t1) / 1e3 }) + "\n");
await ctx.dispose(); await model.dispose(); await llama.dispose();
"""


def load(path, timeout=600):
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    pkg = os.path.abspath(os.path.join(TESTS, "node_modules", "node-llama-cpp", "dist",
                                       "index.js"))
    with tempfile.NamedTemporaryFile("w", suffix=".mjs", prefix="llama-load-") as js:
        js.write(JS.replace("@PKG@", "file://" + pkg))
        js.flush()
        r = subprocess.run(["node", js.name, os.path.abspath(path)], cwd=TESTS, env=env,
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("llama load of %s failed: %s" % (path, r.stderr.strip()[-1500:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(load(sys.argv[1])))
