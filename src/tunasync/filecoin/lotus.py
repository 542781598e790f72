"""Lotus JSON-RPC client and the ChainObserver built on it (spec filecoin.md §4.2, §4.3).

`LotusClient` speaks JSON-RPC 2.0 over `POST {url}` (e.g. https://api.node.glif.io/rpc/v1) with an optional
bearer token, and turns answers into typed records; a malformed answer is a NetworkError naming the
endpoint and the method. `LotusChainObserver` applies the copy rule of `copies.py`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

from ..content.cid import CID
from ..errors import NetworkError
from . import copies, multiaddr
from .copies import Claim, MarketDeal, actor_id
from .http import Http
from .interfaces import ChainObserver, ClaimRef, CopyDetail, CopyReport, MinerInfo


class RpcError(NetworkError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, endpoint: str, method: str, code: int, message: str):
        self.method = method
        self.code = code
        self.message = message
        super().__init__(endpoint, f"{method}: JSON-RPC error {code}: {message}")

    @property
    def not_found(self) -> bool:
        m = self.message.lower()
        return "not found" in m or "no such" in m


class LotusClient:
    def __init__(self, url: str, token: str | None = None, http: Http | None = None):
        self.url = url
        self.token = token
        self.http = http or Http()
        self._ids = itertools.count(1)

    async def call(self, method: str, *params: Any) -> Any:
        rid = next(self._ids)
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": rid}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        # Lotus answers some method errors with HTTP 500 and a JSON-RPC error body
        answer = await self.http.json("POST", self.url, headers=headers, json_body=body, endpoint=self.url,
                                      ok=(200, 500))
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" or answer.get("id") != rid:
            raise NetworkError(self.url, f"{method}: malformed JSON-RPC answer (no jsonrpc 2.0 envelope with id {rid})")
        if "error" in answer and answer["error"] is not None:
            err = answer["error"]
            if not isinstance(err, dict):
                raise NetworkError(self.url, f"{method}: malformed JSON-RPC error {err!r}")
            raise RpcError(self.url, method, _int(err.get("code", 0), self.url, method, "error.code"),
                           str(err.get("message", "")))
        if "result" not in answer:
            raise NetworkError(self.url, f"{method}: malformed JSON-RPC answer (neither result nor error)")
        return answer["result"]

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

    async def sector_info(self, actor: str, sector: int) -> dict | None:
        m = "Filecoin.StateSectorGetInfo"
        res = await self.call(m, actor, sector, None)
        if res is not None and not isinstance(res, dict):
            raise NetworkError(self.url, f"{m}: malformed answer")
        return res

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


class LotusChainObserver(ChainObserver):
    """Counts copies from chain state only (§4.3); the storage backend's word is never used."""

    def __init__(self, client: LotusClient, concurrency: int = 8, max_miner_scan: int = 200):
        self.client = client
        self._sem = asyncio.Semaphore(concurrency)
        self._peers: dict[str, str] = {}  # peer ID -> actor
        self.max_miner_scan = max_miner_scan

    async def head(self) -> int:
        return await self.client.chain_head()

    async def close(self) -> None:
        await self.client.http.close()

    async def miner_info(self, actor: str) -> MinerInfo:
        return await self.client.miner_info(actor)

    async def discover_deals(self, piece_cid: CID) -> dict[int, int]:
        try:
            deals = await self.client.market_deals()
        except RpcError:
            return {}  # disabled on public nodes: deal IDs must come from the backend
        want = piece_cid.to_v1()
        return {d.deal_id: d.piece_size for d in deals.values() if d.piece_cid.to_v1() == want}

    async def actor_for_peer(self, peer_id: str) -> str | None:
        if peer_id not in self._peers:
            try:
                miners = await self.client.list_miners()
            except RpcError:
                return None
            if len(miners) > self.max_miner_scan:  # mainnet: far too many to ask one by one
                return None
            infos = await asyncio.gather(*(self.client.miner_info(m) for m in miners if actor_id(m) not in
                                           self._peers.values()), return_exceptions=True)
            for info in infos:
                if isinstance(info, MinerInfo) and info.peer_id:
                    self._peers[info.peer_id] = info.actor
        return self._peers.get(peer_id)

    async def _deal_detail(self, deal_id: int, piece: CID, size: int, head: int) -> CopyDetail:
        async with self._sem:
            try:
                deal = await self.client.market_deal(deal_id)
            except RpcError as exc:
                if exc.not_found:  # ended deals leave the state tree
                    return CopyDetail("?", "deal", deal_id, False, "not on chain (ended or never published)")
                raise
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
            except RpcError as exc:
                if exc.not_found:
                    return None
                raise

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
        for prov in sorted(set(providers)):
            async with self._sem:
                for c in await self.client.claims(prov):
                    if c.data.to_v1() == piece:
                        found[(c.provider, c.claim_id)] = c
        details += await asyncio.gather(*(self._claim_detail(c, piece, padded_size, head) for c in found.values()))
        return copies.report(details, head)
