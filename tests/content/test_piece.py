"""Piece CIDs against tests/data/vectors/piece.tsv and the published vectors of docs/cid.md, on every core (C SHA-NI, C portable, pure Python)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from tunasync.content import commp_py, piece
from tunasync.content.cid import CID, encode_varint
from tunasync.content.fr32 import expand, sizes

_PERIOD = bytes(i % 251 for i in range(251 * 4096))


def pattern(n: int) -> bytes:
    """`oracle/pattern.py`: byte i is i % 251."""
    reps = -(-n // len(_PERIOD))
    return (_PERIOD * reps)[:n]


def _native():
    try:
        from tunasync.content import _commp
    except ImportError:
        return None
    return _commp


def _cores(every_impl: bool):
    """The pure-Python core and the C core with each SHA-256 implementation this CPU runs (or
    only the one it picks by default)."""
    cores = [pytest.param(("python", None), id="python")]
    native = _native()
    if native is None:
        skip = pytest.mark.skip(reason="native CommP core not built (python setup.py build_ext --inplace)")
        return [*cores, pytest.param(("native", None), id="native", marks=skip)]
    impls = native.impls() if every_impl else [native.impl()]
    return cores + [pytest.param(("native", impl), id=f"native-{impl}") for impl in impls]


def _use_core(param, monkeypatch):
    kind, impl = param
    if kind == "python":
        monkeypatch.setattr(piece, "_core", commp_py)
        monkeypatch.setattr(piece, "NATIVE", False)
        yield kind
        return
    native = _native()
    previous = native.use(impl)
    monkeypatch.setattr(piece, "_core", native)
    monkeypatch.setattr(piece, "NATIVE", True)
    yield f"{kind}-{impl}"
    native.use(previous)


@pytest.fixture(params=_cores(every_impl=True))
def core(request, monkeypatch):
    """Every core and SHA-256 implementation, for the vectors: piece.py then uses only that one."""
    yield from _use_core(request.param, monkeypatch)


@pytest.fixture(params=_cores(every_impl=False))
def main_core(request, monkeypatch):
    """The fallback and the default native core, for the heavier streaming/parallel tests."""
    yield from _use_core(request.param, monkeypatch)


BIG = 16 << 20  # rows above this are checked streamed, on the native cores only


def _input(kind: str, n: int) -> bytes:
    return bytes(n) if kind == "zeros" else pattern(n)


def _row(data_dir, kind: str, size: int) -> dict[str, str]:
    return next(r for r in _rows(data_dir) if r["input"] == kind and int(r["size"]) == size)


def _rows(data_dir):
    with open(data_dir / "vectors" / "piece.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_every_vector_row(core, data_dir):
    rows = _rows(data_dir)
    assert len(rows) >= 12
    for row in rows:
        if row["input"] == "hello-car" or int(row["size"]) > BIG:
            continue  # the CAR row and the big rows have their own tests below
        data = b"hello world\n" if row["input"] == "hello" else _input(row["input"], int(row["size"]))
        info = piece.piece_of_bytes(data)
        got = (str(info.v1), str(info.v2), info.padded_size)
        want = (row["piece_cid_v1"], row["piece_cid_v2"], int(row["padded_piece_size"]))
        assert got == want, f"{core}: {row['input']} {row['size']} bytes"


# FRC-0069's own vectors (https://github.com/filecoin-project/FIPs/blob/master/FRCs/frc-0069.md) and Lotus
# ClientCalcCommP rows from go-fil-commp-hashhash's testdata/zero.txt and testdata/0xCC.txt (docs/cid.md §3.3)
QUADS = bytes(127) + b"\x01" * 127 + b"\x02" * 127 + b"\x03" * 127
SPEC = [
    (b"", "bafkzcibcp4bdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"),
    (bytes(127), "bafkzcibcaabdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"),
    (bytes(128), "bafkzcibcpybwiktap34inmaex4wbs6cghlq5i2j2yd2bb2zndn5ep7ralzphkdy"),
    (QUADS, "bafkzcibcaaces3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi"),
    (QUADS + bytes(508), "bafkzcibcaac542av3szurbbscwuu3zjssvfwbpsvbjf6y3tukvlgl2nf5rha6pa"),
    (QUADS + bytes(4), "bafkzcibd7abqlxticxolgseegik2stpfgkkuwyf6kufex3doorkvmzpjuxwe4dz4"),
    (QUADS + bytes(5), "bafkzcibd64bqlxticxolgseegik2stpfgkkuwyf6kufex3doorkvmzpjuxwe4dz4"),
]
SPEC_V1 = [
    (QUADS, "baga6ea4seaqes3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi"),
    (bytes(1016), "baga6ea4seaqb66wjlfkrbye6uqoemcyxmqylwmrm235uclwfpsyx3ge2imidoly"),
    (bytes(1017), "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"),
    (b"\xcc" * 1016, "baga6ea4seaqjxgfdkdu37aryhg7bqqiwizj5f6ugasftgeocabwnj4cxkgisaoq"),
]


def test_spec_vectors(core):
    for data, v2 in SPEC:
        assert str(piece.piece_of_bytes(data).v2) == v2, f"{core}: {len(data)} bytes"
    for data, v1 in SPEC_V1:
        assert str(piece.piece_of_bytes(data).v1) == v1, f"{core}: {len(data)} bytes"


def test_empty_payload_sizes():
    info = piece.piece_of_bytes(b"")
    assert (info.padded_size, info.height, info.padding, info.payload_size) == (128, 2, 127, 0)
    assert str(info.v1).startswith("baga6ea4seaq") and str(info.v2).startswith("bafkzcib")


@pytest.mark.parametrize("n", [0, 1, 126, 127, 128, 254, 255, 127 * 1024, 127 * 1024 + 1])
def test_sizes_match_frc0069(n):
    padded, height, padding = sizes(n)
    assert padded == 32 << height and padded * 127 // 128 - padding == n
    assert padded == 128 or padded * 127 // 256 < n  # the smallest power of two that holds it


def test_fr32_expansion_matches_bitwise_definition():
    data = bytes(os.urandom(127 * 3))
    out = expand(data)
    x = int.from_bytes(data, "little")
    for q in range(3):
        for k in range(4):
            field = (x >> (1016 * q + 254 * k)) & ((1 << 254) - 1)
            assert out[128 * q + 32 * k : 128 * q + 32 * k + 32] == field.to_bytes(32, "little")


def test_incremental_updates_of_any_split_agree(main_core, tmp_path):
    data = os.urandom(piece.CHUNK * 2 + 12345)
    whole = piece.piece_of_bytes(data)
    h = piece.CommP()
    for cut in (1, 126, 127, 4096, piece.CHUNK - 1, piece.CHUNK + 7):
        h.update(data[h.size : h.size + cut])
    h.update(memoryview(data)[h.size :])
    assert h.digest() == whole
    assert h.digest() == whole  # digest() does not consume the state
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    assert piece.piece_of_file(path, workers=2) == whole
    assert piece.piece_of_file(path, workers=1) == whole


def test_parallel_hasher_agrees_for_every_input_type(main_core):
    data = os.urandom(piece.CHUNK * (3 if piece.NATIVE else 1) + 999)  # the fallback ignores workers
    whole = piece.piece_of_bytes(data)
    for kind in (bytes, bytearray, memoryview):
        h = piece.CommP(workers=2)
        buf = bytearray(data)
        for off in range(0, len(data), 3 << 20):
            part = kind(buf[off : off + (3 << 20)])
            h.update(part)
            if kind is not bytes:
                part[:] = bytes(len(part))  # the caller may reuse its buffer at once
        assert h.digest() == whole, f"{main_core}: {kind.__name__} updates"
    assert piece.piece_of_bytes(data, workers=None) == whole


def test_core_root_contract(core):
    impl = piece._core
    assert impl.root(b"", 2) == commp_py.ZERO[2]
    assert impl.root(b"", 40) == commp_py.ZERO[40]
    assert impl.root(bytes(127 << 3), 5) == commp_py.ZERO[5]
    for data, level in ((bytes(128), 2), (bytes(10), 1), (b"", 59)):
        with pytest.raises(ValueError, match="do not fit"):
            impl.root(data, level)


def test_native_and_python_agree_on_random_sizes(main_core):
    rng = __import__("random").Random(7)
    for k in (0, 1, 3, 7, 10, 13):
        for n in (127 << k) - 1, 127 << k, (127 << k) + 1, rng.randrange(1, (127 << k) + 2):
            data = rng.randbytes(n)
            assert piece.piece_of_bytes(data) == _reference(data), f"{main_core}: {n} bytes"


def _reference(data: bytes) -> piece.PieceInfo:
    """Straight from docs/cid.md §3.1: pad, fr32, hash layer by layer (no zero splicing, no chunks)."""
    padded, height, padding = sizes(len(data))
    nodes = expand(data + bytes(padding))
    while len(nodes) > 32:
        nodes = commp_py.hash_layer(nodes)
    return piece.PieceInfo.from_root(bytes(nodes), len(data))


def test_v1_v2_conversions():
    info = piece.piece_of_bytes(pattern(1017))
    assert piece.v1_to_v2(info.v1, 1017) == info.v2
    assert piece.v1_to_v2(str(info.v1), 1017) == info.v2
    assert piece.v2_info(info.v2) == (info.root, 1015, 6)
    assert piece.v2_to_v1(str(info.v2)) == info.v1
    assert piece.PieceInfo.from_v2(info.v2) == info


def test_v2_info_rejects_other_cids_naming_them():
    raw = CID.of_block(b"x", 0x55)
    with pytest.raises(ValueError, match=str(raw)):
        piece.v2_info(raw)
    v1 = piece.piece_of_bytes(b"x").v1
    with pytest.raises(ValueError, match="not a v2 piece CID"):
        piece.v2_info(v1)
    with pytest.raises(ValueError, match="not a v1 piece CID"):
        piece.v1_to_v2(raw, 10)
    bad = CID.v1(0x55, encode_varint(3000) + b"\x07" + bytes(32), 0x1011)  # 1064 B payload is height 6
    with pytest.raises(ValueError, match="does not fit"):
        piece.v2_info(bad)


def test_no_native_env_forces_the_fallback():
    code = "from tunasync.content import piece; print(piece.NATIVE, piece.piece_of_bytes(b'hello world\\n').v1)"
    env = dict(os.environ, TUNASYNC_NO_NATIVE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "baga6ea4seaqdnumj2qy2m33n4gq3aizapmnpfim5s5s7tufhjfaij7lolfogqdq"]


def test_piece_of_a_car_file(core, tmp_path, data_dir):
    """What a deal carries: the CAR's bytes. The same CAR as `ipfs-car pack --no-wrap` writes for
    `hello world\\n`, whose piece row tests/data/make_vectors.py takes from @web3-storage/data-segment."""
    data = b"hello world\n"
    cid = CID.of_block(data, 0x55).bytes
    header = b"\xa2\x65roots\x81\xd8\x2a\x58\x25\x00" + cid + b"\x67version\x01"
    car = tmp_path / "hello.txt.car"
    car.write_bytes(bytes([len(header)]) + header + bytes([len(cid) + len(data)]) + cid + data)
    info = piece.piece_of_file(car)
    assert (info.payload_size, info.padded_size) == (108, 128)
    row = _row(data_dir, "hello-car", 108)
    assert (str(info.v1), str(info.v2)) == (row["piece_cid_v1"], row["piece_cid_v2"])


def test_300_mib_pattern_streamed(main_core, data_dir):
    """The 300 MiB row of tests/data/vectors/piece.tsv, fed in pieces to the streaming hasher."""
    if main_core == "python":
        pytest.skip("300 MiB takes the pure-Python core seconds; the rows above check the same code on it")
    n = 300 << 20
    h = piece.CommP(workers=2)
    while h.size < n:
        h.update(_PERIOD[: n - h.size])  # whole periods, so byte i stays i % 251
    info = h.digest()
    row = _row(data_dir, "pattern", n)
    assert (str(info.v1), str(info.v2), info.padded_size) == (
        row["piece_cid_v1"], row["piece_cid_v2"], int(row["padded_piece_size"]))
    assert (info.height, info.padding) == (24, 218103808)


def test_impl_env_picks_the_sha256_implementation():
    native = _native()
    if native is None:
        pytest.skip("native CommP core not built (python setup.py build_ext --inplace)")
    code = "from tunasync.content import _commp; print(_commp.impl())"
    env = dict(os.environ, TUNASYNC_COMMP_IMPL="portable")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "portable"
    with pytest.raises(ValueError, match="not available"):
        native.use("no-such-sha")
    assert native.impl() in native.impls()
