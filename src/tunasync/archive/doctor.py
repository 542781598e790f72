"""`tunasync archive doctor`: every endpoint of the archive tier checked live, each problem said in words.

One check per thing an operator can fix, in the order a store run needs them:

    lotus           reachable; its network name; `StateGetNetworkParams` for the epoch length
    chain head      the head's timestamp within a few epochs of the wall clock (a stalled node is not)
    lotus methods   every JSON-RPC method the archive calls exists (called without arguments: a node
                    answers -32602 "wrong param count" for a method it has, -32601 for one it lacks)
    ipni            answers a lookup (200 or 404 are both answers)
    singularity     reachable; our preparation (or that it will be created); a wallet attached to it
    gateway URL     each configured trustless gateway answers a known CID with that CID's block
    piece_url       a staged CAR fetched back through the public URL, its CommP recomputed: a wrong
                    suffix (`.../piece`), a proxy rewriting bodies or a loopback URL is caught
    provider ID     each configured provider exists on chain with an address we can fetch from
    disk            free space for staging bundles under index_dir
    index MIRROR    `PRAGMA integrity_check`, and no journaled step left half done

A check that cannot run (nothing staged yet, no gateway configured) is reported as skipped, which is not
a failure. The exit status is 0 only when nothing failed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from ..content.cid import CID
from ..content.piece import CommP
from ..errors import ConfigError, NetworkError
from ..filecoin import multiaddr
from ..filecoin.http import Http, HttpSettings, wrap_errors
from ..filecoin.lotus import LotusClient, MethodNotFound, RpcError
from ..filecoin.network import DEFAULT_DEVNET_URL, DEFAULT_IPNI_URL
from .config import ArchiveConfig
from .db import inspect
from .settings import ArchiveSetup, MirrorArchive

# What the archive calls on Lotus (filecoin/lotus.py); StateMarketDeals is optional: public gateways
# refuse it and the census then asks deal by deal.
LOTUS_METHODS = ("Filecoin.ChainHead", "Filecoin.StateMarketStorageDeal", "Filecoin.StateGetClaim",
                 "Filecoin.StateGetClaims", "Filecoin.StateMinerInfo", "Filecoin.StateSectorGetInfo",
                 "Filecoin.StateListMiners")
OPTIONAL_METHODS = ("Filecoin.StateMarketDeals",)
DEFAULT_BLOCK_DELAY = 30  # mainnet's epoch, when the node does not say
STALE_EPOCHS = 5
# A CID nobody should hold (sha256 of a fixed text): an indexer answers 404, which proves it answers.
PROBE_CID = "bafkreia25nkub7yfb45fla6xc7sgyt3it76gk3etormdywj6uhc34dk2oy"  # raw, sha256("tunasync archive doctor probe")
EMPTY_FILE_CID = "bafkqaaa"  # the identity CID of zero bytes: every trustless gateway can answer it


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped (could not be checked, not a failure)
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Endpoints:
    kind: str
    lotus: str
    lotus_token: str | None
    ipni: str
    singularity: str
    gateways: tuple[str, ...]
    providers: tuple[str, ...]
    devnet: str = ""


def endpoints(section: ArchiveConfig) -> Endpoints:
    gateways, providers = tuple(section.gateways), tuple(section.providers)
    if section.network == "devnet":
        url = (section.devnet_url or DEFAULT_DEVNET_URL).rstrip("/")
        return Endpoints("devnet", f"{url}/rpc/v1", None, url, f"{url}/api", gateways, providers, devnet=url)
    return Endpoints(section.network, section.lotus_url, section.lotus_token or None,
                     (section.ipni_url or DEFAULT_IPNI_URL).rstrip("/"), section.singularity_url.rstrip("/"),
                     gateways, providers)


def _why(exc: BaseException) -> str:
    if isinstance(exc, NetworkError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Doctor:
    def __init__(self, setup: ArchiveSetup, *, http: Http | None = None, now: Callable[[], float] = time.time,
                 min_free: int | None = None):
        mirrors = list(setup.mirrors)
        if not mirrors:
            raise ConfigError(setup.file or None, "archive",
                              "no archived mirror to check (set archive = true on a mirror)")
        self.mirrors = mirrors
        self.section = setup.section
        self.ep = endpoints(self.section)
        self.http = http or Http(HttpSettings(retries=0, connect_timeout=5, read_timeout=15))
        self.now = now
        self.min_free = min_free if min_free is not None else 2 * max(m.bundle_size for m in mirrors)
        self.lotus = LotusClient(self.ep.lotus, self.ep.lotus_token, http=self.http) if self.ep.lotus else None
        self.checks: list[Check] = []

    def add(self, name: str, ok: bool | None, detail: str, fix: str = "") -> Check:
        c = Check(name, ok, detail, fix)
        self.checks.append(c)
        return c

    async def run(self) -> list[Check]:
        try:
            reachable = await self.check_lotus()
            if reachable:
                await self.check_methods()
                await self.check_providers()
            await self.check_ipni()
            await self.check_singularity()
            await self.check_gateways()
            await self.check_piece_url()
            self.check_disk()
            self.check_indexes()
        finally:
            await self.http.close()
        return self.checks

    # -- Lotus ---------------------------------------------------------------------------------------
    async def check_lotus(self) -> bool:
        if self.lotus is None:
            self.add("lotus", False, "no lotus_url configured",
                     "set [archive] lotus_url to a Lotus or public gateway JSON-RPC endpoint "
                     "(e.g. https://api.node.glif.io/rpc/v1)")
            return False
        try:
            name = await self.lotus.network_name()
        except (NetworkError, OSError) as exc:
            fix = (f"start the devnet (`tunasync devnet`) or fix [archive] devnet_url ({self.ep.devnet})"
                   if self.ep.kind == "devnet" else
                   "check [archive] lotus_url (the JSON-RPC endpoint, usually ending in /rpc/v1) and lotus_token")
            self.add("lotus", False, f"cannot reach Lotus at {self.ep.lotus}: {_why(exc)}", fix)
            return False
        delay = DEFAULT_BLOCK_DELAY
        try:
            delay = await self.lotus.block_delay() or DEFAULT_BLOCK_DELAY
        except (NetworkError, OSError):
            pass  # older nodes: mainnet's 30 s
        self.add("lotus", True, f"{self.ep.lotus}: network {name!r}, epochs of {delay} s")
        await self.check_head(delay)
        return True

    async def check_head(self, delay: int) -> None:
        assert self.lotus is not None
        try:
            head = await self.lotus.call("Filecoin.ChainHead")
            blocks = head.get("Blocks") if isinstance(head, dict) else None
            ts = blocks[0].get("Timestamp") if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) else None
            height = head.get("Height") if isinstance(head, dict) else None
            if not isinstance(ts, int):
                raise NetworkError(self.ep.lotus, "Filecoin.ChainHead: no block timestamp in the answer")
        except (NetworkError, OSError) as exc:
            self.add("chain head", False, _why(exc), "the node answers but not with a tipset: is it a Lotus endpoint?")
            return
        lag = self.now() - ts
        allowed = max(STALE_EPOCHS * delay, 60)
        if abs(lag) > allowed:
            side = "behind the wall clock" if lag > 0 else "ahead of the wall clock"
            self.add("chain head", False, f"head {height} is {abs(lag):.0f} s {side} (more than {STALE_EPOCHS} epochs)",
                     "the node is not synced (wait, or point lotus_url at a synced node), or this machine's clock "
                     "is wrong (check NTP): deal and copy checks read a stale chain")
        else:
            self.add("chain head", True, f"head {height}, {lag:.0f} s old")

    async def check_methods(self) -> None:
        assert self.lotus is not None
        missing: list[str] = []
        optional: list[str] = []
        for method in LOTUS_METHODS + OPTIONAL_METHODS:
            try:
                await self.lotus.call(method)
            except MethodNotFound:
                (optional if method in OPTIONAL_METHODS else missing).append(method)
            except RpcError:
                pass  # wrong parameters: the method exists
            except (NetworkError, OSError) as exc:
                self.add("lotus methods", False, f"{method}: {_why(exc)}")
                return
        if missing:
            self.add("lotus methods", False, f"the node lacks {', '.join(missing)}",
                     "use a full Lotus node or a gateway that serves the state methods")
        else:
            note = f" ({', '.join(optional)} refused: copies are checked deal by deal)" if optional else ""
            self.add("lotus methods", True, f"all {len(LOTUS_METHODS)} methods answer{note}")

    async def check_providers(self) -> None:
        assert self.lotus is not None
        providers = list(self.ep.providers)
        if not providers and self.ep.devnet:
            try:
                info = await self.http.json("GET", f"{self.ep.devnet}/admin/info")
                providers = [p["actor"] for p in info["providers"]]
            except (NetworkError, KeyError, TypeError) as exc:
                self.add("providers", False, f"the devnet's /admin/info: {_why(exc)}")
                return
        if not providers:
            self.add("providers", False, "no storage providers configured",
                     "list the providers to make deals with in [archive] providers = [\"f0…\"]")
            return
        for actor in providers:
            try:
                info = await self.lotus.call("Filecoin.StateMinerInfo", actor, None)
            except RpcError as exc:
                self.add(f"provider {actor}", False, f"not on chain: {exc.message or exc}",
                         "check the provider ID in [archive] providers")
                continue
            except (NetworkError, OSError) as exc:
                self.add(f"provider {actor}", False, _why(exc))
                continue
            raw = info.get("Multiaddrs") if isinstance(info, dict) else None
            addrs = multiaddr.readable(raw or [], "doctor", actor) if isinstance(raw, list) else []
            urls = multiaddr.http_urls(addrs)
            if urls:
                self.add(f"provider {actor}", True, f"on chain, fetchable at {', '.join(urls[:3])}")
            else:
                self.add(f"provider {actor}", False,
                         f"on chain but no HTTP address ({len(addrs)} readable of {len(raw or [])} multiaddrs)",
                         "retrievals from this provider cannot work; pick providers that announce an HTTP address")

    # -- IPNI, Singularity, gateways -----------------------------------------------------------------
    async def check_ipni(self) -> None:
        url = f"{self.ep.ipni}/cid/{PROBE_CID}"
        try:
            async with self.http.open("GET", url, headers={"Accept": "application/json"}, ok=(200,),
                                      passthrough=(404,)) as resp:
                status = resp.status
        except (NetworkError, OSError) as exc:
            self.add("ipni", False, f"{self.ep.ipni}: {_why(exc)}", "check [archive] ipni_url (default https://cid.contact)")
            return
        self.add("ipni", True, f"{self.ep.ipni} answers lookups (HTTP {status} for a probe CID)")

    async def check_singularity(self) -> None:
        base = self.ep.singularity
        if not base:
            self.add("singularity", False, "no singularity_url: archive store cannot make deals",
                     "run Singularity and set [archive] singularity_url (e.g. http://127.0.0.1:9090/api)")
            return
        try:
            preps = await self.http.json("GET", f"{base}/preparation")
            if not isinstance(preps, list):
                raise NetworkError(f"{base}/preparation", "malformed answer (not a list)")
        except (NetworkError, OSError) as exc:
            self.add("singularity", False, f"cannot reach Singularity: {_why(exc)}",
                     "check [archive] singularity_url (its API base, ending in /api)")
            return
        ours = next((p for p in preps if isinstance(p, dict) and p.get("name") == "tunasync"), None)
        if ours is None:
            self.add("singularity", True, f"{base} answers; preparation 'tunasync' will be created by the first store")
            return
        try:
            wallets = await self.http.json("GET", f"{base}/preparation/{ours.get('id')}/wallet")
        except (NetworkError, OSError) as exc:
            self.add("singularity", False, f"preparation 'tunasync' (id {ours.get('id')}): wallets: {_why(exc)}")
            return
        if not isinstance(wallets, list) or not wallets:
            self.add("singularity", False, "preparation 'tunasync' has no wallet attached: deals cannot be signed",
                     "attach one: singularity prep attach-wallet tunasync <wallet address>")
            return
        addrs = ", ".join(str(w.get("address", "?")) for w in wallets if isinstance(w, dict))
        self.add("singularity", True, f"{base}: preparation 'tunasync' (id {ours.get('id')}), wallet {addrs}")

    def _known_cid(self) -> tuple[str, bool]:
        """A CID to ask gateways for: one we stored (a real test) or the empty file's identity CID."""
        for ms in self.mirrors:
            if not ms.index_path.exists():
                continue
            try:
                cid = inspect.archived_cid(ms.index_path)
            except sqlite3.Error:
                continue
            if cid:
                return cid, True
        return EMPTY_FILE_CID, False

    async def check_gateways(self) -> None:
        if not self.ep.gateways:
            self.add("gateways", None, "none configured: retrievals use the providers found through IPNI")
            return
        cid, ours = self._known_cid()
        want = CID.decode(cid)
        for gw in self.ep.gateways:
            url = f"{gw.rstrip('/')}/ipfs/{cid}?format=raw"
            try:
                async with self.http.open("GET", url, headers={"Accept": "application/vnd.ipld.raw"}) as resp:
                    with wrap_errors(url):
                        body = await resp.content.read(2 << 20)
            except (NetworkError, OSError) as exc:
                self.add(f"gateway {gw}", False, f"{cid}: {_why(exc)}",
                         "check the URL in [archive] gateways (the base, without /ipfs)")
                continue
            if want.verify(body):
                what = "a CID we stored" if ours else "the empty file's CID"
                self.add(f"gateway {gw}", True, f"answers {what} with the right block")
            else:
                self.add(f"gateway {gw}", False, f"{cid}: the answer is not that CID's block ({len(body)} bytes)",
                         "the URL may point at something other than a trustless gateway")

    # -- piece_url -----------------------------------------------------------------------------------
    def _staged(self) -> tuple[MirrorArchive, str, int] | None:
        for ms in self.mirrors:
            if not ms.index_path.exists():
                continue
            try:
                rows = inspect.staged_pieces(ms.index_path)
            except sqlite3.Error:
                continue
            for bid, piece in rows:
                if ms.car_path(bid).is_file():
                    return ms, piece, bid
        return None

    async def check_piece_url(self) -> None:
        base = self.section.piece_url.rstrip("/")
        if not base:
            if self.ep.kind == "filecoin":
                self.add("piece_url", False, "not set: CARs would be offered on a loopback port no provider can reach",
                         "run `tunasync serve -c worker.conf` behind a public URL and set [archive] piece_url to its base")
            else:
                self.add("piece_url", True, "not set: the devnet fetches CARs from a loopback server (fine for a devnet)")
            return
        hints = []
        if base.endswith("/piece"):
            hints.append("drop the trailing /piece: CARs are fetched at <piece_url>/piece/<pieceCid>")
        if self.ep.kind == "filecoin" and any(h in base for h in ("//127.", "//localhost", "//[::1]")):
            hints.append("a loopback URL cannot be reached by storage providers")
        staged = self._staged()
        if staged is None:
            self.add("piece_url", False if hints else None,
                     f"{base}: nothing staged yet to fetch back (run `tunasync archive store` once)", "; ".join(hints))
            return
        ms, piece, bid = staged
        url = f"{base}/piece/{piece}"
        try:
            got = await self._commp_of(url)
        except (NetworkError, OSError) as exc:
            fix = "; ".join(hints) or ("is `tunasync serve -c` running behind that URL, and does the proxy pass "
                                       "/piece/ through unchanged?")
            self.add("piece_url", False, f"GET {url}: {_why(exc)}", fix)
            return
        if got != piece:
            self.add("piece_url", False, f"GET {url}: the body's CommP is {got}, not {piece}",
                     "something between rewrites the body (a proxy compressing or caching?): serve it unchanged")
            return
        self.add("piece_url", not hints, f"{url} serves bundle {bid} of {ms.name} with the right CommP",
                 "; ".join(hints))

    async def _commp_of(self, url: str) -> str:
        cp = CommP()
        async with self.http.open("GET", url, read_bufsize=1 << 20) as resp:
            with wrap_errors(url):
                async for chunk in resp.content.iter_chunked(1 << 20):
                    cp.update(chunk)
        return str(cp.digest().v1)

    # -- local ---------------------------------------------------------------------------------------
    def check_disk(self) -> None:
        for d in sorted({str(ms.dir.parent) for ms in self.mirrors}):
            probe = d
            while not os.path.exists(probe) and os.path.dirname(probe) != probe:
                probe = os.path.dirname(probe)
            free = shutil.disk_usage(probe).free
            gib = free / (1 << 30)
            if free < self.min_free:
                self.add(f"disk {d}", False, f"{gib:.1f} GiB free, a bundle needs up to {self.min_free / (1 << 30):.1f} GiB "
                         "to stage", "free space there, or lower [archive] bundle_size")
            else:
                self.add(f"disk {d}", True, f"{gib:.1f} GiB free for staging")

    def check_indexes(self) -> None:
        for ms in self.mirrors:
            if not ms.index_path.exists():
                self.add(f"index {ms.name}", None, "no index yet (the first sync or `archive scan` creates it)")
                continue
            try:
                result, open_steps = inspect.health(ms.index_path)
            except sqlite3.Error as exc:
                self.add(f"index {ms.name}", False, f"{ms.index_path}: {exc}",
                         "restore the index from a backup, or move it aside and rebuild with `tunasync archive scan`")
                continue
            if result != ["ok"]:
                self.add(f"index {ms.name}", False, f"integrity_check: {'; '.join(result[:3])}",
                         "restore the index from a backup (evicted files are known only to it)")
            elif open_steps:
                first = open_steps[0]
                self.add(f"index {ms.name}", False,
                         f"{len(open_steps)} journaled step(s) left half done (first: {first[0]} at {first[1]}"
                         + (f", {first[2]}" if first[2] else "") + ")",
                         "the worker finishes them at its next archive run; or run `tunasync archive repair`")
            else:
                self.add(f"index {ms.name}", True, "integrity ok, journal empty")


async def run(setup: ArchiveSetup, **kw: Any) -> list[Check]:
    return await Doctor(setup, **kw).run()


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.ok is False]


def run_sync(fn: Callable[[], Coroutine[Any, Any, list[Check]]]) -> list[Check]:
    return asyncio.run(fn())
