"""Multiaddrs: Lotus' base64 binary form, text, and the HTTP URL they stand for."""

from __future__ import annotations

import base64

import pytest

from tunasync.filecoin import multiaddr


def test_binary_round_trip_and_urls():
    for text in ("/ip4/127.0.0.1/tcp/14310/http", "/dns4/sp.example.org/tcp/443/https", "/ip6/::1/tcp/80/http",
                 "/dns/sp.example.org/tcp/443/tls/http"):
        raw = multiaddr.to_bytes(text)
        assert multiaddr.from_bytes(raw) == text
        assert multiaddr.parse_lotus(base64.b64encode(raw).decode()) == text
    assert multiaddr.to_bytes("/ip4/127.0.0.1/tcp/14310/http").hex() == "047f0000010637e6e003"
    assert multiaddr.http_url("/ip4/127.0.0.1/tcp/14310/http") == "http://127.0.0.1:14310"
    assert multiaddr.http_url("/dns/sp.example.org/tcp/443/tls/http") == "https://sp.example.org:443"
    assert multiaddr.http_url("/ip4/1.2.3.4/tcp/24001") is None  # libp2p, not HTTP


def test_garbage():
    with pytest.raises(ValueError):
        multiaddr.parse_lotus("!!!")
    with pytest.raises(ValueError):
        multiaddr.to_bytes("/quic/1")
