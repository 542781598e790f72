"""Memory sizes as go-units reads them (docs/compat.md §4.2): binary units, bytes when bare."""

import pytest

from tunasync.sizes import parse_size


@pytest.mark.parametrize(
    "text,expected",
    [
        ("256M", 256 << 20), ("256MiB", 256 << 20), ("128m", 128 << 20), ("512", 512), ("1.5G", 3 << 29),
        ("1 g", 1 << 30), ("1GiB", 1 << 30), ("2k", 2048), ("1kb", 1024), ("3T", 3 << 40), ("1p", 1 << 50),
        (512, 512),
    ],
)
def test_sizes_are_binary(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1.2.3G", "-1M", "1 GB extra", "1X", "G"])
def test_invalid_sizes_name_the_text(text):
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


# docker/go-units v0.5.0 size_test.go TestRAMInBytes (the version tuna/tunasync v0.10.0 go.mod pins)
@pytest.mark.parametrize(("text", "expected"), [
    ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 << 10), ("32K", 32 << 10), ("32kb", 32 << 10),
    ("32Kb", 32 << 10), ("32Kib", 32 << 10), ("32KIB", 32 << 10), ("32Mb", 32 << 20), ("32Gb", 32 << 30),
    ("32Tb", 32 << 40), ("32Pb", 32 << 50), ("32PB", 32 << 50), ("32P", 32 << 50), ("32.3", 32),
    ("32.3 mb", int(32.3 * (1 << 20))), ("0.3MB", int(0.3 * (1 << 20))),
])
def test_go_units_ram_in_bytes_cases(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "-32", " 32 ", "32m b", "32bm"])
def test_go_units_ram_in_bytes_errors(text):
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


# go-units size.go parseSize: the number is everything up to the last digit, '.' or space, read by
# strconv.ParseFloat, so these Go float forms are valid sizes (the list; each was refused before)
@pytest.mark.parametrize(("text", "expected"), [
    (".5G", 1 << 29), ("5.", 5), ("1e3", 1000), ("+5M", 5 << 20), ("1e3M", 1000 << 20), ("1_000", 1000),
    ("5 ", 5), ("0x1p3M", 8 << 20),
])
def test_go_float_forms(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["nan", "inf", "1e400", "1e", "1  g", "."])
def test_not_finite_or_not_a_number(text):
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)
