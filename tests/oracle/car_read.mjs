// car_read.mjs FILE: read a CAR (v1 or v2) with @ipld/car, the reference implementation,
// re-hash every block and print JSON {"version","roots":[...],"blocks":[{"cid","size","ok"}],
// "bad"} on stdout. "ok" is true only if the block's sha2-256 (or identity) digest matches
// its CID; other hash functions count as not ok. Exit 0 if all ok, 1 if any block is bad,
// 2 if @ipld/car cannot read the file (message on stderr). Streams: memory stays small.
import fs from 'node:fs'
import { CarBlockIterator } from '@ipld/car/iterator'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { equals } from 'multiformats/bytes'

const file = process.argv[2]
if (!file) {
  console.error('usage: node oracle/car_read.mjs FILE')
  process.exit(2)
}

async function verify (cid, bytes) {
  const mh = cid.multihash
  let digest
  if (mh.code === sha256.code) digest = await sha256.digest(bytes)
  else if (mh.code === identity.code) digest = identity.digest(bytes)
  else return false
  return equals(digest.bytes, mh.bytes)
}

try {
  const it = await CarBlockIterator.fromIterable(fs.createReadStream(file))
  const roots = (await it.getRoots()).map(String)
  const blocks = []
  let bad = 0
  for await (const { cid, bytes } of it) {
    const ok = await verify(cid, bytes)
    if (!ok) bad++
    blocks.push({ cid: cid.toString(), size: bytes.length, ok })
  }
  console.log(JSON.stringify({ version: it.version, roots, blocks, bad }))
  process.exitCode = bad ? 1 : 0
} catch (err) {
  console.error(`car_read: ${file}: ${err.message}`)
  process.exitCode = 2
}
