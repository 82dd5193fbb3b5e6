// import.mjs: the reference UnixFS import (ipfs-unixfs-importer) of a file or directory.
//
// usage: node oracle/import.mjs PATH [--cid-version 0|1] [--raw-leaves true|false]
//          [--chunk-size N] [--max-links N] [--layout balanced|trickle] [--exclude NAME]...
//
// Directories are walked like `ipfs add -r`: hidden entries (names starting with '.')
// are skipped, empty directories and symlinks are kept; --exclude drops a top-level name.
// Prints one JSON object: {"root": CID, "entries": {relpath: CID}, "blocks": [CID...]}
// where relpath "" is the root itself and blocks lists every block the importer stored.
import fs from 'node:fs'
import path from 'node:path'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, trickle } from 'ipfs-unixfs-importer/layout'

function parseArgs (argv) {
  const o = { cidVersion: 1, rawLeaves: true, chunkSize: 1048576, maxLinks: 1024,
    layout: 'balanced', exclude: [], path: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--cid-version') o.cidVersion = Number(v())
    else if (a === '--raw-leaves') o.rawLeaves = v() === 'true'
    else if (a === '--chunk-size') o.chunkSize = Number(v())
    else if (a === '--max-links') o.maxLinks = Number(v())
    else if (a === '--layout') o.layout = v()
    else if (a === '--exclude') o.exclude.push(v())
    else if (o.path == null) o.path = a
    else throw new Error(`unexpected argument ${a}`)
  }
  if (o.path == null) throw new Error('usage: import.mjs PATH [options]')
  return o
}

async function * readFile (p) {
  const fd = fs.openSync(p, 'r')
  try {
    const buf = Buffer.alloc(1 << 20)
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      yield Uint8Array.prototype.slice.call(buf, 0, n)
    }
  } finally {
    fs.closeSync(fd)
  }
}

// Candidates for every entry below dir, paths relative to it, sorted.
function walk (dir, rel, exclude, out) {
  const names = fs.readdirSync(path.join(dir, rel)).sort()
  for (const name of names) {
    if (name.startsWith('.')) continue
    if (rel === '' && exclude.includes(name)) continue
    const r = rel === '' ? name : `${rel}/${name}`
    const full = path.join(dir, r)
    const st = fs.lstatSync(full)
    if (st.isSymbolicLink()) {
      out.push({ path: r, link: fs.readlinkSync(full) })
    } else if (st.isDirectory()) {
      if (fs.readdirSync(full).filter(n => !n.startsWith('.')).length === 0) {
        out.push({ path: r })
      }
      walk(dir, r, exclude, out)
    } else if (st.isFile()) {
      out.push({ path: r, content: readFile(full) })
    }
  }
  return out
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const blocks = new Map()
  const blockstore = {
    put: async (cid, bytes) => { blocks.set(cid.toString(), bytes); return cid },
    get: async (cid) => blocks.get(cid.toString()),
    has: async (cid) => blocks.has(cid.toString())
  }
  const options = {
    cidVersion: o.cidVersion,
    rawLeaves: o.rawLeaves,
    chunker: fixedSize({ chunkSize: o.chunkSize }),
    layout: o.layout === 'trickle'
      ? trickle({ maxChildrenPerNode: o.maxLinks })
      : balanced({ maxChildrenPerNode: o.maxLinks })
  }
  const st = fs.statSync(o.path)
  let source
  if (st.isDirectory()) {
    source = walk(o.path, '', o.exclude, [])
    options.wrapWithDirectory = true
  } else {
    source = [{ content: readFile(o.path) }]
  }
  const entries = {}
  let root = null
  for await (const entry of importer(source, blockstore, options)) {
    const p = entry.path ?? ''
    entries[p] = entry.cid.toString()
    if (p === '') root = entry.cid.toString()
  }
  process.stdout.write(JSON.stringify({ root, entries, blocks: [...blocks.keys()] }) + '\n')
}

main().catch(err => {
  process.stderr.write(`import.mjs: ${err.stack ?? err}\n`)
  process.exit(1)
})
