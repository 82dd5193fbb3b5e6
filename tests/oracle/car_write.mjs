// car_write.mjs OUT SEED COUNT: write a CARv1 with @ipld/car's CarWriter (the reference
// implementation) and print JSON {"roots":[...],"blocks":[{"cid","size","offset"}]} on stdout.
// Blocks, in order: COUNT pseudo-random raw blocks (CIDv1 raw sha2-256; sizes vary, one empty,
// one of 1.5 MiB when COUNT >= 6), a dag-pb node (CIDv1) linking to them, the same node's
// CIDv0 twin encoded with an extra Data byte, and a duplicate of the first raw block.
// Roots: the dag-pb CIDv1 node and the CIDv0 node. "offset" is the block's byte offset in the
// file (from @ipld/car's CarIndexer), so tests can corrupt a chosen block.
import fs from 'node:fs'
import { CarWriter } from '@ipld/car/writer'
import { CarIndexer } from '@ipld/car/indexer'
import * as dagPB from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

const [out, seedArg, countArg] = process.argv.slice(2)
if (!out || seedArg === undefined || countArg === undefined) {
  console.error('usage: node oracle/car_write.mjs OUT SEED COUNT')
  process.exit(2)
}
let state = (Number(seedArg) >>> 0) || 1
const count = Number(countArg)

function next () { // xorshift32: deterministic bytes for a seed
  state ^= state << 13; state >>>= 0
  state ^= state >>> 17
  state ^= state << 5; state >>>= 0
  return state
}

function randomBytes (n) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = next() & 0xff
  return b
}

function sizeFor (i) {
  if (i === 1) return 0
  if (i === 5) return 1536 * 1024
  if (i % 4 === 0) return next() % 200
  return next() % (300 * 1024)
}

const blocks = []
for (let i = 0; i < count; i++) {
  const bytes = randomBytes(sizeFor(i))
  blocks.push({ cid: CID.create(1, raw.code, await sha256.digest(bytes)), bytes })
}
const links = blocks.map((b, i) => ({ Hash: b.cid, Name: `b${i}`, Tsize: b.bytes.length }))
const node = dagPB.encode(dagPB.prepare({ Data: new Uint8Array([8, 1]), Links: links }))
const nodeCid = CID.create(1, dagPB.code, await sha256.digest(node))
const node0 = dagPB.encode(dagPB.prepare({ Data: new Uint8Array([8, 1, 0]), Links: links }))
const node0Cid = CID.create(0, dagPB.code, await sha256.digest(node0))
blocks.push({ cid: nodeCid, bytes: node }, { cid: node0Cid, bytes: node0 })
if (count > 0) blocks.push(blocks[0])

const roots = [nodeCid, node0Cid]
const { writer, out: carOut } = CarWriter.create(roots)
const collected = (async () => {
  const chunks = []
  for await (const c of carOut) chunks.push(c)
  return Buffer.concat(chunks)
})()
for (const b of blocks) await writer.put(b)
await writer.close()
const bytes = await collected
fs.writeFileSync(out, bytes)

const offsets = []
const indexer = await CarIndexer.fromBytes(bytes)
for await (const ix of indexer) offsets.push(ix.blockOffset)

console.log(JSON.stringify({
  roots: roots.map(String),
  blocks: blocks.map((b, i) => ({ cid: b.cid.toString(), size: b.bytes.length, offset: offsets[i] }))
}))
