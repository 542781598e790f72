"""Building the FilecoinNetwork from a worker's [archive] section (validated once by the worker's loader
into `ArchiveConfig`, opened by `archive.runtime.open_network`)."""

from __future__ import annotations

import pytest

from tunasync.archive.config import ArchiveConfig
from tunasync.archive.runtime import open_network
from tunasync.errors import ArchiveError, ConfigError
from tunasync.filecoin.http import HttpSettings
from tunasync.filecoin.ipni import IpniClient
from tunasync.filecoin.lotus import LotusChainObserver
from tunasync.filecoin.singularity import SingularityBackend
from tunasync.worker.config import load_worker_config

from .conftest import make_file


async def test_real_endpoints_from_config(tmp_path):
    conf = tmp_path / "worker.conf"
    conf.write_text('[archive]\nnetwork = "filecoin"\nlotus_url = "https://api.node.glif.io/rpc/v1"\n'
                    'lotus_token = "t"\nipni_url = "https://cid.contact"\nsingularity_url = "http://127.0.0.1:9090/api"\n'
                    'providers = ["f01234"]\ngateways = ["https://trustless-gateway.link"]\n')
    net = await open_network(load_worker_config(conf).archive, file=str(conf))
    try:
        assert isinstance(net.chain, LotusChainObserver) and net.chain.client.token == "t"
        assert net.chain.client.url == "https://api.node.glif.io/rpc/v1"
        assert isinstance(net.router, IpniClient) and net.router.url == "https://cid.contact"
        assert isinstance(net.storage, SingularityBackend) and net.storage.providers == ["f01234"]
        assert net.retriever.gateways == ["https://trustless-gateway.link"]
    finally:
        await net.close()


async def test_without_singularity_reading_works_but_storing_refuses(tmp_path):
    net = await open_network(ArchiveConfig(network="filecoin", lotus_url="http://127.0.0.1:1/rpc/v1"))
    try:
        with pytest.raises(ArchiveError, match="singularity_url"):
            await net.storage.offer(None, 1)  # type: ignore[arg-type]
    finally:
        await net.close()


@pytest.mark.parametrize("body,key", [('network = "ipfs"', "archive.network"),
                                      ('network = "filecoin"', "archive.lotus_url"),
                                      ('network = "filecoin"\nlotus_url = "x"\ngateways = 3', "archive.gateways")])
async def test_config_errors_name_file_and_key(tmp_path, body, key):
    conf = tmp_path / "w.conf"
    conf.write_text(f"[archive]\n{body}\n")
    with pytest.raises(ConfigError) as exc:
        await open_network(load_worker_config(conf).archive, file=str(conf))
    assert exc.value.file == str(conf) and exc.value.key == key


async def test_gateways_still_tried_when_the_indexer_is_down(devnet, tmp_path, port):
    f = make_file(tmp_path, "i.bin", 5000)
    devnet.seed(f.car, [devnet.actor(0)])
    net = await open_network(ArchiveConfig(network="filecoin", lotus_url=f"{devnet.url}/rpc/v1",
                                           ipni_url=f"http://127.0.0.1:{port}", gateways=[devnet.providers[0]["url"]]))
    try:
        res = await net.retriever.fetch(f.root, tmp_path / "i.out")
        assert (tmp_path / "i.out").read_bytes() == f.data and res.source == devnet.providers[0]["url"]
    finally:
        await net.close()


async def test_open_devnet_that_is_down_leaks_no_session(port):
    """A devnet that is not there: a clear NetworkError, and the HTTP session it opened is closed."""
    import gc
    import warnings

    import aiohttp

    from tunasync.errors import NetworkError
    from tunasync.filecoin.network import open_devnet

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with pytest.raises(NetworkError):
                await open_devnet(f"http://127.0.0.1:{port}", HttpSettings(connect_timeout=0.5, retries=0))
        gc.collect()
    assert not [w for w in caught if "Unclosed client session" in str(w.message)]
    assert not [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]
