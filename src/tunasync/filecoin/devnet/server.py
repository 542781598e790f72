"""The devnet process: one main port (Lotus RPC `/rpc/v1`, IPNI `/cid/{cid}`, Singularity `/api`, admin
`/admin`) and one port per storage provider (`/piece/`, `/ipfs/`). Started and stopped with
AppRunner/TCPSite, so tests and the CLI control its whole life.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from . import admin, ipni, rpc, singularity
from .chain import FIRST_ACTOR, Chain, peer_id_for
from .context import PROVIDER_KINDS, Devnet, ProviderInfo
from .faults import Faults
from .gateway import ProviderGateway
from .market import MarketParams
from .providers import ProviderRuntime
from .scale import Scale, Synthetic
from .store import Store

log = logging.getLogger("tunasync.devnet")


@dataclass
class DevnetOptions:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 14300
    provider_base_port: int | None = None  # default: port + 10 (14310, 14311, ...); 0 = any free port
    providers: int = 3
    epoch_seconds: float = 0.2
    faults: list[tuple[str, str, float]] = field(default_factory=list)
    params: MarketParams = field(default_factory=MarketParams)
    token: str | None = None
    scale: Scale = field(default_factory=Scale)  # scale.SCALES["mainnet"]: thousands of miners, 1M deals
    provider_kinds: list[str] = field(default_factory=lambda: ["curio"])  # in provider order, the last repeats

    def kind_of(self, idx: int) -> str:
        kinds = self.provider_kinds or ["curio"]
        return kinds[min(idx, len(kinds) - 1)]


class DevnetServer:
    def __init__(self, opts: DevnetOptions):
        self.opts = opts
        self.net: Devnet | None = None
        self._runners: list[web.AppRunner] = []
        self._provider_sites: dict[str, tuple[web.AppRunner, web.TCPSite | None, int]] = {}

    async def start(self) -> Devnet:
        o = self.opts
        for kind in o.provider_kinds:
            if kind not in PROVIDER_KINDS:
                raise ValueError(f"unknown provider kind {kind!r} (known: {', '.join(PROVIDER_KINDS)})")
        o.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(o.data_dir / "devnet.sqlite")
        faults = Faults()
        for prov, kind, value in o.faults:
            faults.set(prov, kind, value)
        if o.scale.mainnet:
            chain = Chain(store, faults, o.params, o.epoch_seconds, o.scale.first_deal_id, o.scale.first_claim_id)
        else:
            chain = Chain(store, faults, o.params, o.epoch_seconds)
        net = Devnet(o.data_dir, store, chain, faults, o.params, o.host, o.port, token=o.token, scale=o.scale)
        self.net = net
        runtime = ProviderRuntime(net)
        self.runtime = runtime

        main = web.Application(client_max_size=16 << 20)
        main["devnet"] = net
        main["providers"] = runtime
        main["on_fault_change"] = self._fault_changed
        rpc.routes(main)
        ipni.routes(main)
        singularity.routes(main)
        admin.routes(main)
        runner = web.AppRunner(main, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, o.host, o.port)
        await site.start()
        net.port = _bound_port(runner, o.port)
        self._runners.append(runner)

        known = {r["actor"]: r for r in store.query("SELECT * FROM providers ORDER BY idx")}
        base = o.port + 10 if o.provider_base_port is None else o.provider_base_port
        if o.provider_base_port is None and o.port == 0:
            base = 0
        for i in range(max(o.providers, len(known))):
            actor = f"f0{FIRST_ACTOR + i}"
            kind = o.kind_of(i)
            ipni_peer = peer_id_for(f"ipni-{actor}") if kind == "curio" else ""  # Curio: a key of its own, off chain
            info = ProviderInfo(actor, i, peer_id_for(actor), 0, o.host, kind, ipni_peer)
            gw = ProviderGateway(net, runtime, info)
            prunner = web.AppRunner(gw.app(), access_log=None)
            await prunner.setup()
            want = base + i if base else 0
            psite = None
            if not faults.has(actor, "offline"):
                psite = web.TCPSite(prunner, o.host, want)
                await psite.start()
                want = _bound_port(prunner, want)
            else:
                want = want or _free_port(o.host)
            info = ProviderInfo(actor, i, info.peer_id, want, o.host, kind, ipni_peer)
            gw.info = info
            net.providers.append(info)
            self._provider_sites[actor] = (prunner, psite, want)
            store.execute("INSERT OR REPLACE INTO providers(actor, idx, peer_id, port) VALUES(?,?,?,?)",
                          (actor, i, info.peer_id, want))
        if o.scale.mainnet:
            net.synthetic = Synthetic(o.scale, len(net.providers))
        await runtime.start()
        chain.start()
        return net

    async def _fault_changed(self, actor: str) -> None:
        """Open or close a provider's port when its `offline` fault changes."""
        if actor not in self._provider_sites or self.net is None:
            return
        prunner, site, port = self._provider_sites[actor]
        offline = self.net.faults.has(actor, "offline")
        if offline and site is not None:
            await site.stop()
            self._provider_sites[actor] = (prunner, None, port)
        elif not offline and site is None:
            site = web.TCPSite(prunner, self.opts.host, port)
            await site.start()
            self._provider_sites[actor] = (prunner, site, port)

    def info(self) -> dict[str, Any]:
        assert self.net is not None
        return admin.info(self.net)

    def write_ready_file(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.info(), indent=1))
        os.replace(tmp, path)

    async def stop(self) -> None:
        if self.net is not None:
            self.net.closing.set()
            await self.net.chain.stop()
            await self.runtime.stop()
        for prunner, _, _ in self._provider_sites.values():
            await prunner.cleanup()
        for r in self._runners:
            await r.cleanup()
        if self.net is not None:
            self.net.store.close()


def _bound_port(runner: web.AppRunner, wanted: int) -> int:
    if wanted:
        return wanted
    for addr in runner.addresses:
        if isinstance(addr, tuple):
            return int(addr[1])
    raise RuntimeError("site has no bound address")


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def endpoints_text(info: dict[str, Any]) -> str:
    lines = [f"tunasync devnet: epoch {info['epoch']}, {info['epochSeconds']} s per epoch, scale {info['scale']} "
             f"({info['miners']} miners on chain)",
             f"  lotus json-rpc  {info['rpc']}",
             f"  ipni            {info['ipni']}/cid/{{cid}}",
             f"  singularity     {info['singularity']}",
             f"  admin           {info['url']}/admin/info"]
    for p in info["providers"]:
        lines.append(f"  provider {p['actor']}  {p['kind']:<12}  {p['url']}  {p['multiaddr']}  {p['peerId']}"
                     + (f"  (IPNI peer {p['ipniPeerId']})" if p["ipniPeerId"] != p["peerId"] else ""))
    return "\n".join(lines)
