"""The devnet as a real subprocess on free ports with a fast epoch, plus helpers to put files on it.

Shared by the filecoin, archive and serve tests (`from tests.devnetkit import ...`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunasync.content.car import write_file_car
from tunasync.content.cid import CID
from tunasync.content.piece import piece_of_file

REPO = Path(__file__).resolve().parents[1]


def pattern(n: int, seed: int = 0) -> bytes:
    """Byte i = (i + seed) % 251, as the vectors' pattern input (seed 0; tests/data/make_vectors.py)."""
    block = bytes((i + seed) % 251 for i in range(251))
    return (block * (n // 251 + 1))[:n]


@dataclass
class DevnetProc:
    data_dir: Path
    args: list[str]
    proc: subprocess.Popen | None = None
    info: dict[str, Any] = field(default_factory=dict)
    log: Path | None = None

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def providers(self) -> list[dict[str, Any]]:
        return self.info["providers"]

    def actor(self, i: int) -> str:
        return self.providers[i]["actor"]

    def start(self) -> DevnetProc:
        ready = self.data_dir.parent / f"{self.data_dir.name}.ready.json"
        ready.unlink(missing_ok=True)
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        cmd = [sys.executable, "-m", "tunasync.cli.main", "devnet", "--data", str(self.data_dir), "--port", "0",
               "--provider-port", "0", "--ready-file", str(ready), "-v", *self.args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"devnet exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("devnet did not become ready in 60 s")
            time.sleep(0.05)
        self.info = json.loads(ready.read_text())
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # -- admin helpers (sync; fine in async tests for tiny calls) --------------------------------
    def post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"POST {path}: {exc.code} {exc.read().decode()}") from None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.loads(resp.read())

    def fault(self, provider: str, kind: str, value: float = 1.0, on: bool = True) -> None:
        self.post("/admin/faults", {"provider": provider, "kind": kind, "value": value, "on": on})

    def epoch(self) -> int:
        return self.get("/admin/info")["epoch"]

    def seed(self, car: Path, providers: list[str], **kw: Any) -> dict[str, Any]:
        return self.post("/admin/seed", {"car_path": str(car), "providers": providers, **kw})


@dataclass
class StoredFile:
    path: Path
    data: bytes
    car: Path
    root: CID
    piece: CID
    padded_size: int
    car_size: int


def make_file(tmp: Path, name: str, size: int, seed: int = 0) -> StoredFile:
    data = pattern(size, seed)
    path = tmp / name
    path.write_bytes(data)
    car = tmp / f"{name}.car"
    info = write_file_car(str(path), str(car))
    pi = piece_of_file(str(car))
    return StoredFile(path, data, car, info.root, pi.v1, pi.padded_size, info.size)
