"""The reporter's ordering guarantees, with a slow recording client standing for the manager:
each mirror's statuses in order, and a schedules post after every status (so the manager never ends
with a zeroed next_schedule), many statuses sharing one schedules post when the manager is slow."""

from __future__ import annotations

import asyncio

from tunasync.models import MirrorStatus, SyncStatus
from tunasync.worker.reporter import Reporter


class SlowClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def post_status(self, st: MirrorStatus) -> None:
        await self.gate.wait()
        await asyncio.sleep(0.001)
        self.calls.append(("status", (st.name, st.status.value)))

    async def post_schedules(self, entries) -> None:
        await self.gate.wait()
        self.calls.append(("schedules", list(entries)))


def st(name: str, status: SyncStatus) -> MirrorStatus:
    return MirrorStatus(name=name, status=status)


async def test_every_status_in_order_then_schedules():
    client = SlowClient()
    queue: list[tuple[str, str]] = []
    r = Reporter(client, lambda: list(queue))
    r.start()
    client.gate.clear()  # the manager is slow: everything below piles up for one round
    r.status(st("a", SyncStatus.PRE_SYNCING))
    await asyncio.sleep(0)  # the first round starts with only a's pre-syncing
    for s in (SyncStatus.SYNCING, SyncStatus.FAILED, SyncStatus.SYNCING, SyncStatus.SUCCESS):
        r.status(st("a", s))
    r.status(st("b", SyncStatus.SYNCING))
    queue.append(("a", "T"))
    client.gate.set()
    await r.flush()
    statuses = [c[1] for c in client.calls if c[0] == "status"]
    # Go posts every status (worker/worker.go updateStatus per message), a superseded `syncing` too
    assert [s for n, s in statuses if n == "a"] == ["pre-syncing", "syncing", "failed", "syncing", "success"]
    assert ("b", "syncing") in statuses
    assert client.calls[-1] == ("schedules", [("a", "T")])
    # every status post is followed, later, by a schedules post
    last_status = max(i for i, c in enumerate(client.calls) if c[0] == "status")
    assert any(c[0] == "schedules" for c in client.calls[last_status:])
    await r.stop()


async def test_status_arriving_during_a_round_gets_its_own_schedules_post():
    client = SlowClient()
    r = Reporter(client, lambda: [("x", "T2")])
    r.start()
    r.status(st("x", SyncStatus.PRE_SYNCING))
    await asyncio.sleep(0)  # round 1 is posting pre-syncing
    r.status(st("x", SyncStatus.SUCCESS))  # arrives mid-round
    await r.flush()
    kinds = [c[0] if c[0] == "schedules" else c[1][1] for c in client.calls]
    assert kinds == ["pre-syncing", "schedules", "success", "schedules"]
    await r.stop()
