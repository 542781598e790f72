// Piece CIDs of whole files by @web3-storage/data-segment, one JSON line per FILE argument:
//   {"file", "v1", "v2", "padded_size", "height", "padding"}
// v2 is FRC-0069's piece CID (multihash fr32-sha2-256-trunc254-padded-binary-tree, 0x1011, raw codec);
// v1 is the older form: codec fil-commitment-unsealed (0xf101), multihash sha2-256-trunc254-padded (0x1012)
// over the same 32-byte root. docs/cid.md "Piece CIDs" says how both are built.
//   node piece.mjs FILE...      (@web3-storage/data-segment and multiformats resolvable from here)
import { readFileSync } from 'node:fs'
import { Piece } from '@web3-storage/data-segment'
import { CID } from 'multiformats/cid'
import { create as digestOf } from 'multiformats/hashes/digest'

for (const file of process.argv.slice(2)) {
  const piece = Piece.fromPayload(readFileSync(file))
  const v1 = CID.createV1(0xf101, digestOf(0x1012, piece.root))
  const line = {
    file, v1: `${v1}`, v2: `${Piece.toLink(piece)}`, padded_size: Number(Piece.toInfo(piece).size),
    height: piece.height, padding: Number(piece.padding),
  }
  process.stdout.write(JSON.stringify(line) + '\n')
}
