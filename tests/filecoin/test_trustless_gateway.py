"""A devnet provider's `/ipfs/` against the trustless-gateway rules, each test naming its source:
ipfs/specs `src/http-gateways/trustless-gateway.md` (TG), `src/http-gateways/path-gateway.md` (PG) and
ipfs/gateway-conformance `tests/trustless_gateway_raw_test.go`, `tests/trustless_gateway_car_test.go`,
`tests/t0118_gateway_car_test.go` (GC). One devnet for the module; requests are plain HTTP/1.1."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from tests.devnetkit import DevnetProc, make_file
from tunasync.content.car import write_bundle_car
from tunasync.content.carread import CarIndex, iter_car
from tunasync.content.verify import dfs_blocks

MIB = 1 << 20
CACHE = "public, max-age=29030400, immutable"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tg")
    d = DevnetProc(tmp / "devnet", ["--providers", "2", "--epoch-seconds", "0.05"]).start()
    try:
        big = make_file(tmp, "big.bin", 3 * MIB + 1234)
        zeros = tmp / "zeros.bin"
        zeros.write_bytes(bytes(3 * MIB))  # three equal 1 MiB leaves: a DAG with repeated blocks
        site = tmp / "site"
        (site / "sub").mkdir(parents=True)
        (site / "sub" / "hello.txt").write_bytes(b"hello world\n")
        (site / "big.bin").write_bytes(big.data)
        (site / "zeros.bin").write_bytes(zeros.read_bytes())
        many = tmp / "many"
        many.mkdir()
        for i in range(1001):  # the ipfs-car profile shards a directory of more than 1000 entries
            (many / f"{i}.txt").write_bytes(f"file {i}\n".encode())
        bundle = write_bundle_car(str(site), ["sub/hello.txt", "big.bin", "zeros.bin"], str(tmp / "site.car"))
        hamt = write_bundle_car(str(many), sorted(p.name for p in many.iterdir()), str(tmp / "many.car"))
        for car in (big.car, tmp / "site.car", tmp / "many.car"):
            d.seed(car, [d.actor(0), d.actor(1)])
        with CarIndex.open(str(tmp / "site.car")) as ix:
            blocks = {c: ix.get(c) for c in ix.offsets}
        yield {"devnet": d, "big": big, "bundle": bundle, "hamt": hamt, "blocks": blocks,
               "url": d.providers[0]["url"], "tmp": tmp}
    finally:
        d.stop()


def get(base: str, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def car_cids(body: bytes) -> list[str]:
    return [str(c) for c, _ in iter_car(body)]


# -- block responses --------------------------------------------------------------------------------
def test_raw_block_headers(gw):
    # GC trustless_gateway_raw_test.go "returns expected response headers" + "expected caching headers";
    # TG "Content-Disposition" (`<cid>.bin`), PG "Cache-Control" (MUST for immutable /ipfs/), "X-Ipfs-Roots"
    root = gw["big"].root
    status, h, body = get(gw["url"], f"/ipfs/{root}", {"Accept": "application/vnd.ipld.raw"})
    assert status == 200 and body == gw["blocks"][root]
    assert h["content-type"] == "application/vnd.ipld.raw"
    assert h["content-length"] == str(len(body))
    assert h["content-disposition"] == f'attachment; filename="{root}.bin"'
    assert h["x-content-type-options"] == "nosniff"
    assert h["cache-control"] == CACHE
    assert h["etag"] == f'"{root}.raw"'  # PG "Etag": based on the CID and the format, quoted
    assert h["x-ipfs-path"] == f"/ipfs/{root}" and str(root) in h["x-ipfs-roots"]
    # PG "Content-Location": negotiated by Accept alone, so the URL with ?format= is named
    assert h["content-location"] == f"/ipfs/{root}?format=raw"
    status, h, body2 = get(gw["url"], f"/ipfs/{root}?format=raw&filename=foobar.bin")
    assert status == 200 and body2 == body and "content-location" not in h
    assert h["content-disposition"] == 'attachment; filename="foobar.bin"'  # GC: custom filename


def test_raw_single_range_and_probe(gw):
    # GC path_gateway_raw_test.go "single range request includes correct bytes": 206 + Content-Range
    root = gw["big"].root
    block = gw["blocks"][root]
    status, h, body = get(gw["url"], f"/ipfs/{root}?format=raw", {"Range": "bytes=6-16"})
    assert status == 206 and body == block[6:17] and h["content-range"] == f"bytes 6-16/{len(block)}"
    # TG "Dedicated Probe Paths": GET /ipfs/bafkqaaa?format=raw -> 200, empty body
    status, h, body = get(gw["url"], "/ipfs/bafkqaaa?format=raw", {"Accept": "application/vnd.ipld.raw"})
    assert status == 200 and body == b""
    status, h, body = get(gw["url"], "/ipfs/bafkqaaa?format=car", {"Accept": "application/vnd.ipld.car"})
    car = iter_car(body)
    assert status == 200 and [str(r) for r in car.roots] == ["bafkqaaa"] and list(car) == []


# -- CAR responses ----------------------------------------------------------------------------------
def test_car_headers_and_default_parameters(gw):
    # TG "Content-Type": version MUST be there; "CAR format signaling in Response": every known parameter,
    # even when not asked; "CAR dups": without dups in the request a gateway in control answers dups=n.
    # GC t0118_gateway_car_test.go: Content-Disposition `attachment; filename="<cid>.car"`, nosniff,
    # Accept-Ranges none.
    root = gw["big"].root
    status, h, body = get(gw["url"], f"/ipfs/{root}", {"Accept": "application/vnd.ipld.car"})
    assert status == 200
    assert h["content-type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    assert h["content-disposition"] == f'attachment; filename="{root}.car"'
    assert h["x-content-type-options"] == "nosniff" and h["accept-ranges"] == "none"
    assert h["cache-control"] == CACHE and h["x-ipfs-roots"] == str(root)
    assert h["content-location"] == f"/ipfs/{root}?format=car"
    assert car_cids(body) == [str(c) for c, _ in dfs_blocks(gw["blocks"].__getitem__, root)]
    # TG "dag-scope": the Etag differs per scope; "entity-bytes": it is augmented by the range
    tags = {get(gw["url"], f"/ipfs/{root}?format=car{q}")[1]["etag"]
            for q in ("", "&dag-scope=block", "&dag-scope=entity", "&entity-bytes=0:99", "&car-dups=y")}
    assert len(tags) == 5 and all(t.startswith(f'"{root}.car.') for t in tags)


def test_order_and_dups_negotiation(gw):
    # GC trustless_gateway_car_test.go TestTrustlessCarOrderAndDuplicates, on a file of three equal leaves
    zeros = gw["bundle"].files["zeros.bin"]
    leaf = str(next(c for c, _ in dfs_blocks(gw["blocks"].__getitem__, zeros) if c != zeros))
    url = f"/ipfs/{zeros}"
    status, h, body = get(gw["url"], url, {"Accept": "application/vnd.ipld.car; version=1; order=dfs; dups=y"})
    assert "order=dfs" in h["content-type"] and "dups=y" in h["content-type"]
    assert car_cids(body) == [str(zeros), leaf, leaf, leaf]  # dups=y: every time the walk meets it
    status, h, body = get(gw["url"], url, {"Accept": "application/vnd.ipld.car; version=1; order=dfs; dups=n"})
    assert "dups=n" in h["content-type"] and car_cids(body) == [str(zeros), leaf]  # dups=n: once
    # "order=unk" smoke test: the answer names an explicit order and holds every block
    status, h, body = get(gw["url"], url, {"Accept": "application/vnd.ipld.car; version=1; order=unk"})
    assert status == 200 and "order=dfs" in h["content-type"] and set(car_cids(body)) == {str(zeros), leaf}
    # "Accept and ?format, specific Accept header is prioritized": the Accept parameters still count
    status, h, body = get(gw["url"], url + "?format=car", {"Accept": "application/vnd.ipld.car; version=1; order=dfs; dups=y"})
    assert "dups=y" in h["content-type"] and len(car_cids(body)) == 4 and "content-location" not in h
    # TG "car-dups": the URL parameter takes precedence over Accept
    status, h, body = get(gw["url"], url + "?format=car&car-dups=n", {"Accept": "application/vnd.ipld.car; dups=y"})
    assert "dups=n" in h["content-type"] and len(car_cids(body)) == 2
    # RFC 9110 q-values: the preferred acceptable type wins
    status, h, _ = get(gw["url"], url, {"Accept": "application/vnd.ipld.raw;q=0.5, application/vnd.ipld.car;q=0.9"})
    assert h["content-type"].startswith("application/vnd.ipld.car")
    # GC "dups=y of identity CID": identity blocks are never sent as blocks
    ident = "bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa"
    status, h, body = get(gw["url"], f"/ipfs/{ident}", {"Accept": "application/vnd.ipld.car; dups=y"})
    assert status == 200 and "dups=y" in h["content-type"] and car_cids(body) == []


def test_dag_scopes_and_entity_bytes(gw):
    # TG "dag-scope" (block: the root alone; entity: the whole file; all: the whole DAG) and "entity-bytes"
    # (only the blocks a range needs; negative and * forms; GC TestTrustlessCarEntityBytes)
    b = gw["bundle"]
    get_block = gw["blocks"].__getitem__
    f = b.files["big.bin"]
    walk = [str(c) for c, _ in dfs_blocks(get_block, f)]  # root + 4 leaves of 1 MiB
    def car(q: str) -> list[str]:
        status, _, body = get(gw["url"], f"/ipfs/{f}?format=car{q}")
        assert status == 200, q
        return car_cids(body)
    assert car("&dag-scope=block") == [str(f)]
    assert car("&dag-scope=entity") == walk == car("&dag-scope=all") == car("")
    assert car("&entity-bytes=0:0") == walk[:2]
    assert car(f"&entity-bytes={MIB}:*") == [walk[0]] + walk[2:]
    assert car("&entity-bytes=-5:*") == [walk[0], walk[-1]]
    assert car("&entity-bytes=-999999999:-3") == walk  # before the start: from byte 0
    assert car("&entity-bytes=10:5") == [str(f)]  # an empty range: equivalent to dag-scope=block
    # the directory: entity = the directory node alone; all = every block under it
    d = b.root
    status, _, body = get(gw["url"], f"/ipfs/{d}?format=car&dag-scope=entity")
    assert car_cids(body) == [str(d)]
    status, _, body = get(gw["url"], f"/ipfs/{d}?format=car&dag-scope=all&car-dups=y")
    assert set(car_cids(body)) == {str(c) for c in gw["blocks"]}


def test_content_paths_through_plain_and_sharded_directories(gw):
    # TG: "for CARs the pathing behavior is identical to path-gateway"; GC TestTrustlessCarPathing: the
    # blocks to traverse the path, then the terminal entity; PG "X-Ipfs-Roots": one CID per path segment
    b = gw["bundle"]
    sub = next(c for c in gw["blocks"] if c not in b.files.values() and c != b.root
               and c.codec == 0x70 and b"hello.txt" in gw["blocks"][c])
    hello = b.files["sub/hello.txt"]
    status, h, body = get(gw["url"], f"/ipfs/{b.root}/sub/hello.txt?format=car")
    assert status == 200 and car_cids(body) == [str(b.root), str(sub), str(hello)]
    assert h["x-ipfs-roots"] == f"{b.root},{sub},{hello}" and h["x-ipfs-path"] == f"/ipfs/{b.root}/sub/hello.txt"
    assert h["content-disposition"] == f'attachment; filename="{hello}.car"'
    status, _, body = get(gw["url"], f"/ipfs/{b.root}/sub?format=car&dag-scope=block")
    assert car_cids(body) == [str(b.root), str(sub)]
    status, _, body = get(gw["url"], f"/ipfs/{b.root}/sub/i-do-not-exist?format=car")
    assert status == 404 and b"i-do-not-exist" in body
    h_root, files = gw["hamt"].root, gw["hamt"].files
    status, h, body = get(gw["url"], f"/ipfs/{h_root}/685.txt?format=car")
    cids = car_cids(body)
    assert status == 200 and cids[0] == str(h_root) and cids[-1] == str(files["685.txt"]) and len(cids) >= 3
    assert h["x-ipfs-roots"] == f"{h_root},{files['685.txt']}"


def test_conditional_head_and_cache_requests(gw):
    root = gw["big"].root
    url = f"/ipfs/{root}?format=car"
    _, h, _ = get(gw["url"], url)
    # PG "If-None-Match": a match MUST answer 304 without a payload
    status, h2, body = get(gw["url"], url, {"If-None-Match": f'"other", {h["etag"]}'})
    assert status == 304 and body == b"" and h2["etag"] == h["etag"]
    assert get(gw["url"], url, {"If-None-Match": '"other"'})[0] == 200
    # TG "HEAD": the same as GET without a payload
    status, h3, body = get(gw["url"], url, method="HEAD")
    assert status == 200 and body == b"" and h3["content-type"] == h["content-type"] and h3["etag"] == h["etag"]
    # PG "Cache-Control: only-if-cached": 412 when the root block is not here; TG "404 Not Found" otherwise
    unknown = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    assert get(gw["url"], f"/ipfs/{unknown}?format=raw", {"Cache-Control": "only-if-cached"})[0] == 412
    assert get(gw["url"], f"/ipfs/{unknown}?format=raw")[0] == 404


@pytest.mark.parametrize("path, headers, status", [
    # TG "Accept": a strict trustless gateway answers 400 when neither Accept nor format says what
    ("/ipfs/{cid}", {}, 400),
    ("/ipfs/{cid}", {"Accept": "*/*"}, 400),
    # TG "CAR format signaling in Response": an unsupported variant may get 400 or 406
    ("/ipfs/{cid}", {"Accept": "text/html"}, 406),
    ("/ipfs/{cid}", {"Accept": "application/vnd.ipld.car; version=2"}, 406),
    ("/ipfs/{cid}?format=car", {"Accept": "application/vnd.ipld.car; order=foo"}, 406),
    ("/ipfs/{cid}?format=tar", {}, 400),
    ("/ipfs/{cid}?format=car&car-version=2", {}, 400),
    ("/ipfs/{cid}?format=car&car-order=bfs", {}, 400),
    ("/ipfs/{cid}?format=car&car-dups=maybe", {}, 400),
    ("/ipfs/{cid}?format=car&dag-scope=everything", {}, 400),
    ("/ipfs/{cid}?format=car&entity-bytes=abc", {}, 400),
    # TG "entity-bytes": SHOULD be 400 when the range is wholly outside and that is known up front
    ("/ipfs/{cid}?format=car&entity-bytes=99999999:*", {}, 400),
    # TG "GET /ipfs/{cid}": block requests take no path; PG "400": a malformed CID
    ("/ipfs/{cid}/x?format=raw", {}, 400),
    ("/ipfs/not-a-cid?format=raw", {}, 400),
])
def test_bad_requests_get_a_reason(gw, path, headers, status):
    got, h, body = get(gw["url"], path.format(cid=gw["big"].root), headers)
    assert got == status and body.strip() and h["content-type"].startswith("text/plain")


def test_unordered_fault_sends_a_legacy_shuffled_car(gw):
    d: DevnetProc = gw["devnet"]
    root = gw["big"].root
    d.fault(d.actor(1), "unordered")
    try:
        status, h, body = get(d.providers[1]["url"], f"/ipfs/{root}?format=car&car-dups=y")
    finally:
        d.fault(d.actor(1), "unordered", on=False)
    assert status == 200 and h["content-type"] == "application/vnd.ipld.car; version=1"
    assert h["etag"].startswith("W/")  # PG "Etag": weak when the bytes are not reproducible
    walk = [str(c) for c, _ in dfs_blocks(gw["blocks"].__getitem__, root)]
    got = car_cids(body)
    assert sorted(got) == sorted(walk) and got != walk


