"""Lotus JSON-RPC client and the ChainObserver built on it (docs/filecoin.md §4.2, §4.3).

`LotusClient` speaks JSON-RPC 2.0 over `POST {url}` (e.g. https://api.node.glif.io/rpc/v1) with an optional
bearer token, and turns answers into typed records; a malformed answer is a NetworkError naming the
endpoint and the method. `LotusChainObserver` applies the copy rule of `copies.py`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from ..content.cid import CID
from ..errors import NetworkError, UnsupportedMethod
from . import copies, multiaddr
from .copies import Claim, MarketDeal, actor_id
from .http import Http, wrap_errors
from .interfaces import ChainObserver, ClaimRef, CopyDetail, CopyReport, MinerInfo

log = logging.getLogger(__name__)

METHOD_NOT_FOUND = -32601  # go-jsonrpc: unknown method, or one a Lotus gateway does not proxy
# codes go-jsonrpc uses for requests it could not even start (wrong method, params): never "no such deal"
REQUEST_ERRORS = frozenset({-32700, -32600, METHOD_NOT_FOUND, -32602})


class RpcError(NetworkError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, endpoint: str, method: str, code: int, message: str):
        self.method = method
        self.code = code
        self.message = message
        super().__init__(endpoint, f"{method}: JSON-RPC error {code}: {message}")

    @property
    def not_found(self) -> bool:
        """The method ran and found no such object (e.g. "deal 5 not found"); never a refused method."""
        return isinstance(self, RpcNotFound)


class RpcNotFound(RpcError):
    """The method ran and found no such object. Lotus answers that with a generic error code (1) and
    the words "not found" / "no such" in its message: the message is read here, once, at the edge."""

    @staticmethod
    def says(code: int, message: str) -> bool:
        m = message.lower()
        return code not in REQUEST_ERRORS and ("not found" in m or "no such" in m)


class MethodNotFound(RpcError, UnsupportedMethod):
    """JSON-RPC -32601: the node does not serve `method` (public Lotus gateways leave some out)."""

    def __init__(self, endpoint: str, method: str, code: int, message: str):
        super().__init__(endpoint, method, code, message)
        self.reason = (f"{method}: the node does not offer this method (JSON-RPC {code}: {message}); "
                       "public Lotus gateways (e.g. glif) do not serve every method")
        self.args = (f"{endpoint}: {self.reason}",)


class LotusClient:
    def __init__(self, url: str, token: str | None = None, http: Http | None = None):
        self.url = url
        self.token = token
        self.http = http or Http()
        self._ids = itertools.count(1)
        self.stats: dict[str, list[int]] = {}  # method -> [calls, response bytes], for reports and budgets

    async def call(self, method: str, *params: Any) -> Any:
        return (await self.call_sized(method, *params))[0]

    async def call_sized(self, method: str, *params: Any) -> tuple[Any, int]:
        """(result, bytes of the HTTP answer body)."""
        rid = next(self._ids)
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": rid}
        headers = {"Accept": "application/json", **({"Authorization": f"Bearer {self.token}"} if self.token else {})}
        # go-jsonrpc answers request errors (unknown method, wrong params) with HTTP 500 and a JSON-RPC error body
        async with self.http.open("POST", self.url, headers=headers, json_body=body, endpoint=self.url,
                                  ok=(200, 500)) as resp:
            with wrap_errors(self.url):
                raw = await resp.read()
        st = self.stats.setdefault(method, [0, 0])
        st[0] += 1
        st[1] += len(raw)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise NetworkError(self.url, f"{method}: malformed JSON-RPC answer (not JSON, HTTP {resp.status})") from None
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" or answer.get("id") != rid:
            raise NetworkError(self.url, f"{method}: malformed JSON-RPC answer (no jsonrpc 2.0 envelope with id {rid})")
        if "error" in answer and answer["error"] is not None:
            err = answer["error"]
            if not isinstance(err, dict):
                raise NetworkError(self.url, f"{method}: malformed JSON-RPC error {err!r}")
            code = _int(err.get("code", 0), self.url, method, "error.code")
            message = str(err.get("message", ""))
            cls = (MethodNotFound if code == METHOD_NOT_FOUND
                   else RpcNotFound if RpcNotFound.says(code, message) else RpcError)
            raise cls(self.url, method, code, message)
        if "result" not in answer:
            raise NetworkError(self.url, f"{method}: malformed JSON-RPC answer (neither result nor error)")
        return answer["result"], len(raw)

    # -- typed methods -------------------------------------------------------------------------
    async def chain_head(self) -> int:
        res = await self.call("Filecoin.ChainHead")
        if not isinstance(res, dict):
            raise NetworkError(self.url, "Filecoin.ChainHead: malformed answer (not an object)")
        return _int(res.get("Height"), self.url, "Filecoin.ChainHead", "Height")

    async def market_deal(self, deal_id: int) -> MarketDeal:
        m = "Filecoin.StateMarketStorageDeal"
        return parse_market_deal(deal_id, await self.call(m, deal_id, None), self.url, m)

    async def market_deals(self) -> dict[int, MarketDeal]:
        m = "Filecoin.StateMarketDeals"
        res = await self.call(m, None)
        if not isinstance(res, dict):
            raise NetworkError(self.url, f"{m}: malformed answer (not an object)")
        out = {}
        for k, v in res.items():
            if not str(k).isdigit():
                raise NetworkError(self.url, f"{m}: malformed deal ID {k!r}")
            out[int(k)] = parse_market_deal(int(k), v, self.url, m)
        return out

    async def claim(self, provider: str, claim_id: int) -> Claim | None:
        m = "Filecoin.StateGetClaim"
        res = await self.call(m, provider, claim_id, None)
        return None if res is None else parse_claim(claim_id, res, self.url, m)

    async def claims(self, provider: str) -> list[Claim]:
        m = "Filecoin.StateGetClaims"
        res = await self.call(m, provider, None)
        if res is None:
            return []
        if not isinstance(res, dict):
            raise NetworkError(self.url, f"{m}: malformed answer (not an object)")
        return [parse_claim(_int(k, self.url, m, "claim ID"), v, self.url, m) for k, v in res.items()]

    async def claim_index(self, provider: str) -> tuple[ClaimIndex, int]:
        """Every claim of `provider` (StateGetClaims), indexed by piece; and the answer's size in bytes.
        Mainnet providers hold 100,000+ claims: only the claims of a looked-up piece are fully parsed."""
        m = "Filecoin.StateGetClaims"
        res, nbytes = await self.call_sized(m, provider, None)
        if res is None:
            res = {}
        if not isinstance(res, dict):
            raise NetworkError(self.url, f"{m}: malformed answer (not an object)")
        index = ClaimIndex(self.url, m)
        for k, v in res.items():
            data = v.get("Data") if isinstance(v, dict) else None
            cid = data.get("/") if isinstance(data, dict) else None
            if not isinstance(cid, str):
                raise NetworkError(self.url, f"{m}: malformed claim {k!r} (no Data CID)")
            index.add(cid, _int(k, self.url, m, "claim ID"), v)
        return index, nbytes

    async def miner_info(self, actor: str) -> MinerInfo:
        m = "Filecoin.StateMinerInfo"
        res = await self.call(m, actor, None)
        if not isinstance(res, dict):
            raise NetworkError(self.url, f"{m}: malformed answer (not an object)")
        peer = res.get("PeerId")  # null when the miner never set one
        if peer is not None and not isinstance(peer, str):
            raise NetworkError(self.url, f"{m}: malformed answer (PeerId is {peer!r})")
        addrs = res.get("Multiaddrs") or []
        if not isinstance(addrs, list):
            raise NetworkError(self.url, f"{m}: malformed Multiaddrs (not a list)")
        # one unreadable entry is skipped (logged once, counted), never the miner's other addresses
        text = multiaddr.readable(addrs, "lotus.StateMinerInfo", actor_id(actor), self.url)
        return MinerInfo(actor=actor_id(actor), peer_id=peer or None, multiaddrs=text)

    async def sector_info(self, actor: str, sector: int) -> dict[str, Any] | None:
        m = "Filecoin.StateSectorGetInfo"
        res = await self.call(m, actor, sector, None)
        if res is not None and not isinstance(res, dict):
            raise NetworkError(self.url, f"{m}: malformed answer")
        return res

    async def network_name(self) -> str:
        """The name of the chain the node follows ("mainnet", "calibrationnet"; Lotus' own devnet: "lotus")."""
        m = "Filecoin.StateNetworkName"
        res = await self.call(m)
        if not isinstance(res, str):
            raise NetworkError(self.url, f"{m}: malformed answer (not a string)")
        return res

    async def block_delay(self) -> int | None:
        """Seconds per epoch from `StateGetNetworkParams` (Lotus api.NetworkParams.BlockDelaySecs); None when
        the answer carries none (a gateway that trims it)."""
        m = "Filecoin.StateGetNetworkParams"
        res = await self.call(m)
        if not isinstance(res, dict):
            raise NetworkError(self.url, f"{m}: malformed answer (not an object)")
        delay = res.get("BlockDelaySecs")
        return delay if isinstance(delay, int) and not isinstance(delay, bool) and delay > 0 else None

    async def list_miners(self) -> list[str]:
        m = "Filecoin.StateListMiners"
        res = await self.call(m, None)
        if not isinstance(res, list) or not all(isinstance(a, str) for a in res):
            raise NetworkError(self.url, f"{m}: malformed answer (not a list of addresses)")
        return res


# -- parsing (pure) --------------------------------------------------------------------------------
def _int(v: Any, url: str, method: str, field: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise NetworkError(url, f"{method}: malformed answer ({field} is {v!r})")
    try:
        return int(v)
    except ValueError:
        raise NetworkError(url, f"{method}: malformed answer ({field} is {v!r})") from None


def _cid(v: Any, url: str, method: str, field: str) -> CID:
    if isinstance(v, dict):
        v = v.get("/")
    if not isinstance(v, str):
        raise NetworkError(url, f"{method}: malformed answer ({field} is not a CID)")
    try:
        return CID.decode(v)
    except ValueError as exc:
        raise NetworkError(url, f"{method}: malformed answer ({field}: {exc})") from None


def parse_market_deal(deal_id: int, res: Any, url: str, method: str) -> MarketDeal:
    if not isinstance(res, dict) or not isinstance(res.get("Proposal"), dict) or not isinstance(res.get("State"), dict):
        raise NetworkError(url, f"{method}: malformed answer for deal {deal_id} (no Proposal/State)")
    p, s = res["Proposal"], res["State"]
    label = p.get("Label", "")
    return MarketDeal(
        deal_id=deal_id,
        piece_cid=_cid(p.get("PieceCID"), url, method, "Proposal.PieceCID"),
        piece_size=_int(p.get("PieceSize"), url, method, "Proposal.PieceSize"),
        client=actor_id(str(p.get("Client", ""))),
        provider=actor_id(str(p.get("Provider", ""))),
        label=label if isinstance(label, str) else "",
        verified=bool(p.get("VerifiedDeal", False)),
        start_epoch=_int(p.get("StartEpoch"), url, method, "Proposal.StartEpoch"),
        end_epoch=_int(p.get("EndEpoch"), url, method, "Proposal.EndEpoch"),
        sector_start_epoch=_int(s.get("SectorStartEpoch"), url, method, "State.SectorStartEpoch"),
        last_updated_epoch=_int(s.get("LastUpdatedEpoch", -1), url, method, "State.LastUpdatedEpoch"),
        slash_epoch=_int(s.get("SlashEpoch"), url, method, "State.SlashEpoch"),
        sector_number=(_int(s["SectorNumber"], url, method, "State.SectorNumber")
                       if s.get("SectorNumber") is not None else None),
    )


def parse_claim(claim_id: int, res: Any, url: str, method: str) -> Claim:
    if not isinstance(res, dict):
        raise NetworkError(url, f"{method}: malformed claim {claim_id}")
    return Claim(
        claim_id=claim_id,
        provider=actor_id(_int(res.get("Provider"), url, method, "Provider")),
        client=actor_id(_int(res.get("Client"), url, method, "Client")),
        data=_cid(res.get("Data"), url, method, "Data"),
        size=_int(res.get("Size"), url, method, "Size"),
        term_min=_int(res.get("TermMin"), url, method, "TermMin"),
        term_max=_int(res.get("TermMax"), url, method, "TermMax"),
        term_start=_int(res.get("TermStart"), url, method, "TermStart"),
        sector=_int(res.get("Sector"), url, method, "Sector"),
    )


class ClaimIndex:
    """One provider's claims by piece CID text (Lotus writes CIDs in base32 v1, as `str(CID)` does)."""

    def __init__(self, url: str, method: str):
        self.url, self.method = url, method
        self._by_piece: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.size = 0

    def add(self, cid_text: str, claim_id: int, raw: dict[str, Any]) -> None:
        self._by_piece.setdefault(cid_text, []).append((claim_id, raw))
        self.size += 1

    def of_piece(self, piece: CID) -> list[Claim]:
        return [parse_claim(i, raw, self.url, self.method) for i, raw in self._by_piece.get(str(piece.to_v1()), [])]


class LotusChainObserver(ChainObserver):
    """Counts copies from chain state only (docs/filecoin.md §4.3); the storage backend's word is never used."""

    def __init__(self, client: LotusClient, concurrency: int = 8, max_miner_scan: int = 200):
        self.client = client
        self._sem = asyncio.Semaphore(concurrency)
        self._peers: dict[str, str] = {}  # peer ID -> actor
        self.max_miner_scan = max_miner_scan
        self._miners_scanned = False
        self._market_refused: MethodNotFound | None = None
        self._claim_lists: dict[str, ClaimIndex] = {}  # provider -> its claims, fetched once per run
        self._claim_locks: dict[str, asyncio.Lock] = {}
        self._claim_stats: dict[str, dict[str, float]] = {}  # provider -> {"claims", "bytes", "seconds"}

    async def head(self) -> int:
        return await self.client.chain_head()

    async def close(self) -> None:
        await self.client.http.close()

    async def miner_info(self, actor: str) -> MinerInfo:
        return await self.client.miner_info(actor)

    async def discover_deals(self, piece_cid: CID) -> dict[int, int]:
        """Deals of the piece from `StateMarketDeals` (the devnet; a private node answers gigabytes, a
        public one refuses: MethodNotFound, raised again without asking once a node has refused)."""
        if self._market_refused is not None:
            raise self._market_refused
        try:
            deals = await self.client.market_deals()
        except MethodNotFound as exc:
            self._market_refused = exc
            log.warning("%s; deal IDs come from the storage backend only", exc)
            raise
        want = piece_cid.to_v1()
        return {d.deal_id: d.piece_size for d in deals.values() if d.piece_cid.to_v1() == want}

    async def actor_for_peer(self, peer_id: str) -> str | None:
        if peer_id not in self._peers and not self._miners_scanned:
            try:
                miners = await self.client.list_miners()
            except RpcError:
                return None
            if len(miners) > self.max_miner_scan:  # mainnet: far too many to ask one by one (asked once)
                self._miners_scanned = True
                return None
            infos = await asyncio.gather(*(self.client.miner_info(m) for m in miners if actor_id(m) not in
                                           self._peers.values()), return_exceptions=True)
            for info in infos:
                if isinstance(info, MinerInfo) and info.peer_id:
                    self._peers[info.peer_id] = info.actor
        return self._peers.get(peer_id)

    @property
    def claim_lists(self) -> dict[str, dict[str, float]]:
        return self._claim_stats

    async def provider_claims(self, provider: str) -> ClaimIndex:
        """The claim list of `provider`, fetched at most once per observer (one run) and kept."""
        provider = actor_id(provider)
        lock = self._claim_locks.setdefault(provider, asyncio.Lock())
        async with lock:
            if provider not in self._claim_lists:
                started = time.monotonic()
                async with self._sem:
                    index, nbytes = await self.client.claim_index(provider)
                took = time.monotonic() - started
                self._claim_lists[provider] = index
                self._claim_stats[provider] = {"claims": index.size, "bytes": nbytes, "seconds": round(took, 3)}
                log.info("%s: claim list of %s: %d claims, %d bytes, %.2f s", self.client.url, provider, index.size,
                         nbytes, took)
        return self._claim_lists[provider]

    async def claimed_sizes(self, piece_cid: CID, providers: Sequence[str]) -> set[int]:
        sizes: set[int] = set()
        for prov in sorted({actor_id(p) for p in providers}):
            sizes |= {c.size for c in (await self.provider_claims(prov)).of_piece(piece_cid)}
        return sizes

    async def _deal_detail(self, deal_id: int, piece: CID, size: int, head: int) -> CopyDetail:
        async with self._sem:
            try:
                deal = await self.client.market_deal(deal_id)
            except RpcNotFound:  # ended deals leave the state tree
                return CopyDetail("?", "deal", deal_id, False, "not on chain (ended or never published)")
        ok, why = copies.deal_status(deal, piece, size, head)
        return CopyDetail(deal.provider, "deal", deal_id, ok, why)

    async def _claim_detail(self, claim: Claim, piece: CID, size: int, head: int) -> CopyDetail:
        live = True
        if claim.term_start > 0:
            async with self._sem:
                live = await self.client.sector_info(claim.provider, claim.sector) is not None
        ok, why = copies.claim_status(claim, piece, size, head, live)
        return CopyDetail(claim.provider, "claim", claim.claim_id, ok, why)

    async def _claim_ref(self, ref: ClaimRef) -> Claim | None:
        async with self._sem:
            try:
                return await self.client.claim(ref.provider, ref.claim_id)
            except RpcNotFound:
                return None

    async def verified_copies(self, piece_cid: CID, padded_size: int, deal_ids: Sequence[int] = (),
                              claims: Sequence[ClaimRef] = (), providers: Sequence[str] = ()) -> CopyReport:
        head = await self.head()
        piece = piece_cid.to_v1()
        details = list(await asyncio.gather(*(self._deal_detail(d, piece, padded_size, head)
                                              for d in sorted(set(deal_ids)))))
        found: dict[tuple[str, int], Claim] = {}
        for ref, c in zip(claims, await asyncio.gather(*(self._claim_ref(r) for r in claims)), strict=True):
            if c is None:
                details.append(CopyDetail(actor_id(ref.provider), "claim", ref.claim_id, False, "claim not found"))
            else:
                found[(c.provider, c.claim_id)] = c
        for prov in sorted({actor_id(p) for p in providers}):
            for c in (await self.provider_claims(prov)).of_piece(piece):
                found[(c.provider, c.claim_id)] = c
        details += await asyncio.gather(*(self._claim_detail(c, piece, padded_size, head) for c in found.values()))
        return copies.report(details, head)
