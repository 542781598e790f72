"""Headless Chromium driven over the DevTools protocol with aiohttp (no extra dependencies)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = os.environ.get("TUNASYNC_CHROMIUM", "/usr/bin/chromium")


def chromium_path() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _read_port(port_file: Path) -> str:
    try:
        return port_file.read_text().split()[0]
    except (OSError, IndexError):
        return ""


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            fut = self._waiting.pop(data.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        i = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[i] = fut
        await self.ws.send_str(json.dumps({"id": i, "method": method, "params": params}))
        data = await asyncio.wait_for(fut, 60)
        if "error" in data:
            raise RuntimeError(f"{method}: {data['error']}")
        return data.get("result", {})

    async def eval(self, expr: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expr}: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def wait_for(self, expr: str, within: float = 30) -> Any:
        """Poll `expr` until it is truthy (generous limit: tests run on busy machines)."""
        deadline = time.monotonic() + within
        while True:
            value = await self.eval(expr)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {within} s for {expr}")
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=mobile)

    async def screenshot(self, path: Path, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        res = await self.send("Page.captureScreenshot", **params)
        await asyncio.to_thread(_write, path, base64.b64decode(res["data"]))

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


class Browser:
    """`async with Browser() as b: page = await b.new_page()`."""

    def __init__(self, exe: str):
        self.exe = exe
        self.tmp = tempfile.TemporaryDirectory(prefix="tunasync-chromium-")
        self.proc: asyncio.subprocess.Process | None = None
        self.session: aiohttp.ClientSession | None = None
        self.http = ""

    async def __aenter__(self) -> Browser:
        profile = Path(self.tmp.name)
        self.proc = await asyncio.create_subprocess_exec(
            self.exe, *["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             "--hide-scrollbars", "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)  # its helpers (renderers, crashpad) die with it, below
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port := await asyncio.to_thread(_read_port, port_file)):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                await self.__aexit__(None, None, None)
                raise RuntimeError("chromium did not start its DevTools endpoint")
            await asyncio.sleep(0.1)
        self.http = f"http://127.0.0.1:{port}"
        self.session = aiohttp.ClientSession()
        return self

    async def new_page(self) -> Page:
        assert self.session is not None
        async with self.session.put(f"{self.http}/json/new?about:blank") as r:
            target = await r.json(content_type=None)
        ws = await self.session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        return page

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.proc is not None:
            # helpers that outlive the browser still write into the profile while it is removed
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for _ in range(50):
            try:
                shutil.rmtree(self.tmp.name)
                break
            except FileNotFoundError:
                break
            except OSError:
                await asyncio.sleep(0.1)
        with contextlib.suppress(OSError):
            self.tmp.cleanup()
