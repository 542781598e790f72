"""/mirrorz.json: the mirrorz data format from the [mirrorz] table and the manager's statuses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from tunasync.errors import ConfigError
from tunasync.manager.mirrorz import build, parse_config, status_code
from tunasync.models import MirrorStatus, SyncStatus, timefmt

from .manager_harness import register, report, running_manager

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
TS0 = 1714536000


def st(status: str, **kw) -> MirrorStatus:
    base = dict(name="debian", worker="w1", is_master=True, status=SyncStatus(status), upstream="rsync://u/debian/",
                size="1.2T")
    base.update(kw)
    return MirrorStatus(**base)


@pytest.mark.parametrize("record,code", [
    (st("success", last_update=T0, last_ended=T0), f"S{TS0}"),
    (st("success", last_update=T0, next_schedule=T0 + timedelta(hours=2)), f"S{TS0}X{TS0 + 7200}"),
    (st("syncing", last_started=T0, last_update=T0 - timedelta(days=1)), f"Y{TS0}O{TS0 - 86400}"),
    (st("pre-syncing", last_started=T0), f"Y{TS0}"),
    (st("failed", last_ended=T0, last_update=T0 - timedelta(hours=1), next_schedule=T0 + timedelta(hours=1)),
     f"F{TS0}X{TS0 + 3600}O{TS0 - 3600}"),
    (st("paused", last_ended=T0), f"P{TS0}"),
    (st("disabled", last_update=T0), "D"),
    (st("none"), "U"),
    (st("failed"), "F"),  # a time Go never set is left out, not sent as -62135596800
])
def test_status_letters(record, code):
    assert status_code(record) == code


def test_config_validation_names_file_and_key():
    assert parse_config({}, "m.conf") is None
    with pytest.raises(ConfigError, match="m.conf: mirrorz.url: required"):
        parse_config({"abbr": "X"}, "m.conf")
    with pytest.raises(ConfigError, match="m.conf: mirrorz.abbr: must be a string"):
        parse_config({"abbr": 3, "url": "https://x"}, "m.conf")
    with pytest.raises(ConfigError, match="mirrorz.mirrors.debian.color: unknown key"):
        parse_config({"abbr": "X", "url": "https://x", "mirrors": {"debian": {"color": "red"}}}, "m.conf")
    with pytest.raises(ConfigError, match="mirrorz.logo_url: unknown key"):
        parse_config({"abbr": "X", "url": "https://x", "logo_url": "y"}, "m.conf")


def test_build_document():
    cfg = parse_config({
        "abbr": "EX", "url": "https://mirrors.example.org/", "name": "Example", "help_url": "/help/{name}/",
        "hide": ["secret"], "mirrors": {"debian": {"desc": "Debian packages", "cname": "Debian"}},
        "info": [{"distro": "Debian", "category": "os", "urls": [{"name": "ISO", "url": "/debian-cd/"}]}],
    })
    records = [
        st("failed", worker="w2", is_master=False, last_ended=T0),
        st("success", last_update=T0),
        st("success", name="pypi", size="unknown", last_update=T0),
        st("success", name="secret"),
        st("paused", name=""),  # Go quirk 5 record: never published
    ]
    doc = build(cfg, records)
    assert doc["version"] == 1.7
    assert doc["site"] == {"url": "https://mirrors.example.org", "abbr": "EX", "name": "Example"}
    assert doc["info"][0]["distro"] == "Debian"
    assert doc["mirrors"] == [
        {"cname": "Debian", "desc": "Debian packages", "url": "/debian", "status": f"S{TS0}",
         "help": "/help/debian/", "upstream": "rsync://u/debian/", "size": "1.2T"},
        {"cname": "pypi", "desc": "", "url": "/pypi", "status": f"S{TS0}", "help": "/help/pypi/",
         "upstream": "rsync://u/debian/", "size": ""},
    ]


async def test_served_by_the_manager(tmp_path, port):
    extra = '[mirrorz]\nabbr = "EX"\nurl = "https://mirrors.example.org"\nhelp_url = "/help/{name}/"\n'
    async with running_manager(tmp_path, port, extra) as m, aiohttp.ClientSession() as s:
        await register(s, m.url, "w1")
        await report(s, m.url, "w1", "debian", "pre-syncing", "syncing", "success", size="1.2T")
        await report(s, m.url, "w1", "ubuntu", "pre-syncing", "syncing")
        async with s.get(m.url + "/mirrorz.json") as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            doc = await r.json()
        now = timefmt.unix(timefmt.now())
        by = {x["cname"]: x for x in doc["mirrors"]}
        assert by["debian"]["status"].startswith("S") and abs(int(by["debian"]["status"][1:]) - now) < 60
        assert by["ubuntu"]["status"].startswith("Y")
        assert by["debian"]["help"] == "/help/debian/" and by["debian"]["size"] == "1.2T"


async def test_not_configured_is_404_with_a_hint(tmp_path, port):
    async with running_manager(tmp_path, port) as m, aiohttp.ClientSession() as s:
        async with s.get(m.url + "/mirrorz.json") as r:
            assert r.status == 404
            assert "[mirrorz]" in (await r.json())["error"]


def test_manager_check_reports_a_bad_mirrorz_table(tmp_path):
    from click.testing import CliRunner

    from tunasync.cli.manager import command

    conf = tmp_path / "manager.conf"
    conf.write_text(f'[files]\ndb_file = "{tmp_path}/db.sqlite"\n[mirrorz]\nabbr = "EX"\n')
    res = CliRunner().invoke(command, ["--check", "-c", str(conf)])
    assert res.exit_code == 1
    assert f"error: {conf}: mirrorz.url: required by the mirrorz format" in res.output
