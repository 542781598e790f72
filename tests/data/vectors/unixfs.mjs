// The file CID that @ipld/unixfs (the encoder inside ipfs-car) makes for one file, under one of our
// three import profiles (src/tunasync/content/unixfs.py PROFILES; docs/cid.md "Import profiles").
//   node unixfs.mjs PROFILE FILE        PROFILE is ipfs-car, kubo-v1 or kubo; prints the CID
// Needs @ipld/unixfs and multiformats resolvable from the working directory (see make_vectors.py).
import { createReadStream } from 'node:fs'
import * as UnixFS from '@ipld/unixfs'
import { withMaxChunkSize } from '@ipld/unixfs/file/chunker/fixed'
import { withWidth } from '@ipld/unixfs/file/layout/balanced'
import * as raw from 'multiformats/codecs/raw'
import { CID } from 'multiformats/cid'

const KiB = 1024
const settingsFor = {
  // ipfs-car 3: 1 MiB raw leaves, 1024 links per node, CIDv1
  'ipfs-car': { chunker: withMaxChunkSize(1024 * KiB), fileLayout: withWidth(1024), fileChunkEncoder: raw, smallFileEncoder: raw },
  // kubo with --cid-version=1: 256 KiB raw leaves, 174 links per node
  'kubo-v1': { chunker: withMaxChunkSize(256 * KiB), fileLayout: withWidth(174), fileChunkEncoder: raw, smallFileEncoder: raw },
  // kubo's default: 256 KiB dag-pb leaves, 174 links per node, CIDv0 links
  'kubo': { chunker: withMaxChunkSize(256 * KiB), fileLayout: withWidth(174), linker: { createLink: (_code, digest) => CID.createV0(digest) } },
}

const [name, file] = process.argv.slice(2)
if (!(name in settingsFor) || !file) {
  console.error(`usage: node unixfs.mjs ${Object.keys(settingsFor).join('|')} FILE`)
  process.exit(2)
}
const pipe = new TransformStream({}, UnixFS.withCapacity(1 << 30))
const writer = UnixFS.createWriter({ writable: pipe.writable, settings: UnixFS.configure(settingsFor[name]) })
// Blocks are not needed, only the root: read them away so the writer never waits on a full queue.
const sink = pipe.readable.pipeTo(new WritableStream())
const fileWriter = UnixFS.createFileWriter(writer)
for await (const buf of createReadStream(file, { highWaterMark: 1024 * KiB })) {
  await fileWriter.write(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))
}
const { cid } = await fileWriter.close()
await writer.close()
await sink
process.stdout.write(`${cid}\n`)
