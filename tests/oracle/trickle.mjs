// trickle.mjs: build UnixFS DAGs with the reference JS importer and write every block to a CAR.
//
// Usage (run with cwd=tests/ so the imports resolve):
//   node oracle/trickle.mjs file --in FILE --out CAR [--layout trickle|balanced]
//        [--raw-leaves] [--chunk N] [--max-links N] [--cid-version 0|1] [--layer-repeat N]
//   node oracle/trickle.mjs sharded --out CAR --files N [--threshold BYTES] [--fanout-bits N]
//   node oracle/trickle.mjs flat --out CAR --files N
// Prints one JSON line: file → {root, size, blocks}; sharded/flat → {root, blocks,
// files: [{name, cid, size}]} where every file's content is "content of NAME\n".
// Blocks are written in an arbitrary order; the CAR's root is the DAG root.
import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CarWriter } from '@ipld/car';
import { importer } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { balanced, trickle } from 'ipfs-unixfs-importer/layout';

function parseArgs(argv) {
  const opts = { mode: argv[0], layout: 'trickle', rawLeaves: false, chunk: 1024, maxLinks: 4,
    cidVersion: 1, files: 300, threshold: 1, fanoutBits: 8, layerRepeat: 4 };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--in') opts.in = next();
    else if (a === '--out') opts.out = next();
    else if (a === '--layout') opts.layout = next();
    else if (a === '--raw-leaves') opts.rawLeaves = true;
    else if (a === '--chunk') opts.chunk = Number(next());
    else if (a === '--max-links') opts.maxLinks = Number(next());
    else if (a === '--cid-version') opts.cidVersion = Number(next());
    else if (a === '--layer-repeat') opts.layerRepeat = Number(next());
    else if (a === '--files') opts.files = Number(next());
    else if (a === '--threshold') opts.threshold = Number(next());
    else if (a === '--fanout-bits') opts.fanoutBits = Number(next());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.out) throw new Error('--out is required');
  return opts;
}

// A blockstore that keeps each block under its full CID (codec included).
class Blocks {
  constructor() { this.map = new Map(); }
  async put(cid, bytes) {
    const chunks = [];
    if (bytes instanceof Uint8Array) chunks.push(bytes);
    else for await (const c of bytes) chunks.push(c);
    this.map.set(cid.toString(), { cid, bytes: Buffer.concat(chunks) });
    return cid;
  }
  async get(cid) { return this.map.get(cid.toString()).bytes; }
  async has(cid) { return this.map.has(cid.toString()); }
}

async function writeCar(root, blockstore, out) {
  const { writer, out: stream } = CarWriter.create([root]);
  const done = pipeline(Readable.from(stream), createWriteStream(out));
  let blocks = 0;
  for (const { cid, bytes } of blockstore.map.values()) {
    await writer.put({ cid, bytes });
    blocks++;
  }
  await writer.close();
  await done;
  return blocks;
}

async function importFile(opts, bs) {
  const data = readFileSync(opts.in);
  const layout = opts.layout === 'balanced'
    ? balanced({ maxChildrenPerNode: opts.maxLinks })
    : trickle({ maxChildrenPerNode: opts.maxLinks, layerRepeat: opts.layerRepeat });
  const options = { cidVersion: opts.cidVersion, rawLeaves: opts.rawLeaves,
    chunker: fixedSize({ chunkSize: opts.chunk }), layout };
  if (!opts.rawLeaves && opts.layout === 'trickle') {
    options.leafType = 'raw'; // Kubo's trickle DAGs use UnixFS Raw leaves
    options.reduceSingleLeafToSelf = false;
  }
  let last;
  for await (const entry of importer([{ content: data }], bs, options)) last = entry;
  return { root: last.cid, size: data.length };
}

async function importDir(opts, bs) {
  const files = [];
  for (let i = 0; i < opts.files; i++) {
    const name = `file-${String(i).padStart(4, '0')}.txt`;
    files.push({ path: `dir/${name}`, content: new TextEncoder().encode(`content of ${name}\n`) });
  }
  const options = { cidVersion: 1, rawLeaves: true, wrapWithDirectory: false,
    shardSplitThresholdBytes: opts.mode === 'flat' ? 1 << 30 : opts.threshold,
    shardFanoutBits: opts.fanoutBits };
  const out = [];
  let root;
  for await (const entry of importer(files, bs, options)) {
    if (entry.path === 'dir') root = entry.cid;
    else out.push({ name: entry.path.slice(4), cid: entry.cid.toString(),
      size: Number(entry.size) });
  }
  return { root, files: out };
}

const opts = parseArgs(process.argv.slice(2));
const bs = new Blocks();
const res = opts.mode === 'file' ? await importFile(opts, bs) : await importDir(opts, bs);
const blocks = await writeCar(res.root, bs, opts.out);
console.log(JSON.stringify({ ...res, root: res.root.toString(), blocks }));
