"""Memory sizes as go-units reads them (spec §4.2): binary units, bytes when bare."""

import pytest

from tunasync.worker.sizes import parse_size


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
