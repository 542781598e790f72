"""Reading CARs: every block verified, malformed input rejected with a clear error, CARv2 unwrapped."""

from __future__ import annotations

import hashlib
import io

import pytest

from tunasync.content.car import encode_header, write_file_car
from tunasync.content.carread import MAX_BLOCK, CarIndex, Sections, iter_car
from tunasync.content.cid import CID, DAG_CBOR, RAW, encode_varint
from tunasync.errors import CarError, VerifyError

BLOCK = b"hello world\n"
CID_OK = CID.of_block(BLOCK, RAW)


def section(cid: CID, block: bytes) -> bytes:
    return encode_varint(len(cid.bytes) + len(block)) + cid.bytes + block


def car(*sections: bytes, roots=(CID_OK,)) -> bytes:
    return encode_header(list(roots)) + b"".join(sections)


def read_all(data: bytes):
    c = iter_car(data)
    return c.roots, list(c)


def test_reads_roots_and_verified_blocks_from_bytes_and_streams():
    data = car(section(CID_OK, BLOCK))
    assert read_all(data) == ([CID_OK], [(CID_OK, BLOCK)])
    c = iter_car(io.BufferedReader(io.BytesIO(data)))
    assert list(c) == [(CID_OK, BLOCK)]


def _v2(v1: bytes) -> bytes:
    pragma = bytes.fromhex("0aa16776657273696f6e02")
    header = bytes(16) + (51).to_bytes(8, "little") + len(v1).to_bytes(8, "little") + bytes(8)
    return pragma + header + v1 + b"index-bytes-ignored"


def test_carv2_is_unwrapped_to_its_payload():
    c = iter_car(_v2(car(section(CID_OK, BLOCK))))
    assert c.version == 2 and c.roots == [CID_OK] and list(c) == [(CID_OK, BLOCK)]


@pytest.mark.parametrize("data, match", [
    (b"", "empty input"),
    (b"\x04\xa1\x61a\x01", "unsupported CAR version"),
    (b"\x02\xa1\x61", "not valid DAG-CBOR"),
    (b"\x80", "truncated header length varint"),
    (b"\x80\x00", "not minimally encoded"),
    (b"\xff" * 12, "varint too long"),
    (b"\x09\xa2\x65roots\x80\x67", "header is not valid DAG-CBOR"),
])
def test_bad_headers(data, match):
    with pytest.raises(CarError, match=match):
        read_all(data)


def test_truncated_section_names_its_offset():
    data = car(section(CID_OK, BLOCK))[:-3]
    with pytest.raises(CarError, match="truncated section") as info:
        read_all(data)
    assert info.value.offset is not None


def test_hash_mismatch_is_a_verify_error_naming_the_cid():
    bad = car(section(CID_OK, b"hello world!"))
    with pytest.raises(VerifyError) as info:
        read_all(bad)
    assert info.value.cid == CID_OK and "do not match" in str(info.value)


def test_oversize_blocks_are_refused_before_reading_them():
    big = b"\0" * (MAX_BLOCK + 1)
    cid = CID.v1(RAW, hashlib.sha256(big).digest())
    with pytest.raises(CarError, match="over the 2 MiB"):
        read_all(car(section(cid, big)))
    head = car()[:] + encode_varint(MAX_BLOCK + 10_000)  # only the length: never allocated
    with pytest.raises(CarError, match="over the 2 MiB"):
        read_all(head)


def test_unknown_codec_and_hash_are_refused():
    odd = CID.v1(0x0129, hashlib.sha256(BLOCK).digest())  # dag-json
    with pytest.raises(CarError, match="unsupported codec 0x129"):
        read_all(car(section(odd, BLOCK)))
    blake = CID(1, RAW, 0xB220, bytes(32))
    with pytest.raises(CarError, match="unsupported multihash 0xb220"):
        read_all(car(section(blake, BLOCK)))


def test_identity_and_dag_cbor_blocks_are_checked():
    ident = CID(1, RAW, 0x00, b"inline")
    assert read_all(car(section(ident, b"inline")))[1] == [(ident, b"inline")]
    with pytest.raises(VerifyError):
        read_all(car(section(ident, b"other")))
    cbor = CID.of_block(b"\xa0", DAG_CBOR)
    assert read_all(car(section(cbor, b"\xa0")))[1] == [(cbor, b"\xa0")]


def test_bad_cid_inside_a_section():
    with pytest.raises(CarError, match="bad CID"):
        read_all(car(encode_varint(3) + b"\x02\x55\x12"))


def test_index_gives_random_access_and_rechecks(tmp_path, pattern_file):
    path = tmp_path / "f.car"
    info = write_file_car(str(pattern_file(3 << 20)), str(path))
    with CarIndex.open(str(path)) as ix:
        assert ix.roots == [info.root] and ix.sections == 4 and info.root in ix
        leaf = CID.of_block(bytes(range(251)) * 10, RAW)
        assert leaf not in ix
        with pytest.raises(KeyError):
            ix.get(leaf)
        offset, length = ix.offsets[info.root]
        assert ix.get(info.root) == path.read_bytes()[offset : offset + length]
    # a byte flipped after indexing is caught when the block is read
    with CarIndex.open(str(path)) as ix:
        offset, _ = ix.offsets[info.root]
        raw = bytearray(path.read_bytes())
        raw[offset + 5] ^= 1
        path.write_bytes(raw)
        with pytest.raises(VerifyError):
            ix.get(info.root)


def split_sections(data: bytes, size: int) -> list[tuple[CID, bytes, int]]:
    s = Sections()
    got = []
    for i in range(0, len(data), size):
        s.push(data[i : i + size])
        while (sec := s.section()) is not None:
            cid, parts, at = sec
            assert all(isinstance(p, memoryview) and p.readonly for p in parts)
            got.append((cid, b"".join(parts), at))
    assert s.buffered == 0
    return got


def test_sections_parse_any_chunking_without_copying_blocks():
    blocks = [(CID.of_block(b, RAW), b) for b in (BLOCK, b"x" * 70_000, b"", b"\1" * 300)]
    raw = b"".join(section(c, b) for c, b in blocks)
    offsets = [0]
    for c, b in blocks[:-1]:
        offsets.append(offsets[-1] + len(section(c, b)))
    want = [(c, b, at) for (c, b), at in zip(blocks, offsets, strict=True)]
    for size in (1, 2, 3, 97, 4096, 65536, len(raw)):
        assert split_sections(raw, size) == want
    s = Sections()
    chunk = section(*blocks[1])
    s.push(chunk)
    cid, parts, _ = s.section()
    assert len(parts) == 1 and parts[0].obj is chunk  # one chunk in, a view of it out


def test_sections_reject_bad_lengths_at_their_stream_offset():
    s = Sections()
    s.push(section(CID_OK, BLOCK) + b"\x80\x00")
    assert s.section() is not None
    with pytest.raises(CarError, match="not minimally encoded") as info:
        s.section()
    assert info.value.offset == len(section(CID_OK, BLOCK))
    s = Sections()
    s.push(b"\xff" * 8)
    assert s.section() is None  # could still end in the 9th byte
    s.push(b"\xff")
    with pytest.raises(CarError, match="varint too long"):
        s.section()
    for n in (0, MAX_BLOCK + 257):
        s = Sections()
        s.push(encode_varint(n))
        with pytest.raises(CarError, match="out of range"):
            s.section()
    s = Sections()
    s.push(encode_varint(3) + b"\x02\x55\x12")
    with pytest.raises(CarError, match="bad CID"):
        s.section()


# -- zero padding after the CAR (a piece payload served zero-filled to its unpadded size) -------------
DATA = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "car"


def test_go_car_zero_len_section_fixture_ends_cleanly():
    # ipld/go-car v2/testdata/sample-v1-with-zero-len-section2.car: a CARv1 of 20 sections followed by
    # zero bytes to 32512; go-car reads it only with ZeroLengthSectionAsEOF(true) (v2/options.go,
    # v2/internal/carv1/util/util.go LdReadSize). Its blocks are blake2b, so hashes are not checked here.
    raw = (DATA / "go-car-sample-v1-with-zero-len-section2.car").read_bytes()
    c = iter_car(raw, verify=False)
    assert [str(r) for r in c.roots] == ["bafykbzaceapvx4wxbe3bfc5neit43wl22pruy2ysk7wv763iuyyxcffj3te56"]
    sections = list(c.sections())
    assert len(sections) == 20 and sections[-1].offset + sections[-1].length == 20819
    assert c.padding == len(raw) - 20819
    # go-car without the option refuses it (TestReadingZeroLengthSectionWithoutOptionSetIsError)
    with pytest.raises(CarError, match="empty section"):
        list(iter_car(raw, verify=False, zero_padding=False))


# ipld/go-car v2/internal/carv1/car_test.go TestEOFHandling: a clean one-block CAR (dag-cbor, sha2-256)
GO_CAR_EOF = bytes.fromhex(
    "3aa265726f6f747381d82a58250001711220151fe9e73c6267a7060c6f6c4cca943c236f4b196723489608edb42a8b8fa80b"
    "6776657273696f6e012c01711220151fe9e73c6267a7060c6f6c4cca943c236f4b196723489608edb42a8b8fa80ba165646f"
    "646779f5")


def test_go_car_eof_fixture_and_its_zero_padded_forms():
    cid = "bafyreiavd7u6opdcm6tqmddpnrgmvfb4enxuwglhenejmchnwqvixd5ibm"
    assert [str(c) for c, _ in iter_car(GO_CAR_EOF)] == [cid]
    for tail in (b"\0", bytes(127), bytes(3 << 20)):  # one zero section, or zeros to the end of a piece
        c = iter_car(GO_CAR_EOF + tail)
        assert [str(x) for x, _ in c] == [cid] and c.padding == len(tail)
    with pytest.raises(CarError, match="truncated"):  # go-car: BadVarint -> ErrUnexpectedEOF
        list(iter_car(GO_CAR_EOF + bytes([160])))
    with pytest.raises(CarError, match="truncated"):  # go-car: TruncatedBlock -> ErrUnexpectedEOF
        list(iter_car(GO_CAR_EOF + bytes([100, 0, 0])))


def test_a_zero_section_followed_by_data_is_still_an_error(tmp_path):
    good = car(section(CID_OK, BLOCK))
    for tail in (b"\0" + section(CID_OK, BLOCK), bytes(5000) + b"\1" + bytes(10)):
        with pytest.raises(CarError, match="followed by non-zero data") as info:
            list(iter_car(good + tail))
        assert info.value.offset == len(good)
    path = tmp_path / "padded.car"
    path.write_bytes(good + bytes(1 << 20))
    with CarIndex.open(str(path)) as ix:
        assert ix.sections == 1 and ix.get(CID_OK) == BLOCK
    with pytest.raises(CarError, match="empty section"):
        CarIndex.open(str(path), zero_padding=False)


def test_zero_padding_inside_a_carv2_payload_stops_at_its_data_end():
    inner = car(section(CID_OK, BLOCK)) + bytes(64)
    c = iter_car(_v2(inner))  # the index bytes after the payload are not part of it
    assert list(c) == [(CID_OK, BLOCK)] and c.padding == 64
