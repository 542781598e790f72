"""tests/data/vectors/ is what tests/data/make_vectors.py writes: every row it declares is there, no
other, and its input generator is the one the vector tests use. (Running the references again is
`python tests/data/make_vectors.py --check`, which needs node and takes minutes.)"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

from tests.content.content_helpers import pattern_bytes

DATA = Path(__file__).resolve().parent.parent / "data"


def make_vectors() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", DATA / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rows(name: str) -> list[dict[str, str]]:
    with open(DATA / "vectors" / name, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_unixfs_rows_are_the_declared_ones() -> None:
    mv = make_vectors()
    want = {(p, "pattern", n) for n in mv.UNIXFS_SIZES for p in mv.PROFILES}
    want |= {(p, "hello", len(mv.HELLO)) for p in mv.PROFILES}
    got = [(r["profile"], r["input"], int(r["size"])) for r in rows("unixfs.tsv")]
    assert len(got) == len(set(got)) and set(got) == want


def test_piece_rows_are_the_declared_ones() -> None:
    mv = make_vectors()
    want = {("pattern", n) for n in mv.PIECE_SIZES} | {("zeros", n) for n in mv.ZERO_SIZES}
    want |= {("hello", len(mv.HELLO)), ("hello-car", 108)}
    got = [(r["input"], int(r["size"])) for r in rows("piece.tsv")]
    assert len(got) == len(set(got)) and set(got) == want


def test_the_generator_writes_the_pattern_the_tests_read(tmp_path: Path) -> None:
    n = 251 * 4096 * 2 + 1000  # past the generator's block, so its wrap-around is covered
    path = make_vectors().write_pattern(tmp_path / "p", n)
    assert path.read_bytes() == pattern_bytes(n)


def test_versions_name_every_reference_package() -> None:
    versions = json.loads((DATA / "vectors" / "versions.json").read_text())
    assert set(versions) == set(make_vectors().PACKAGES) and all(versions.values())
