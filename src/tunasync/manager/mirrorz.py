"""`GET /mirrorz.json`: the site in the mirrorz data format (mirrorz-org/mirrorz, format 1.7), pure.

Site metadata comes from the manager's `[mirrorz]` table:

    [mirrorz]
    abbr = "EXAMPLE"                      # required (mirrorz: site.abbr)
    url = "https://mirrors.example.org"   # required, no trailing slash (site.url)
    name = "Example Mirror"               # optional site keys: name homepage logo logo_darkmode
                                          #   issue request email group disk note big
    mirror_url = "/{name}"                # default per-mirror url; {name} is the mirror name
    help_url = "/help/{name}/"            # default help link ("" = none)
    hide = ["internal"]                   # mirrors left out
    [mirrorz.mirrors.debian]              # per-mirror overrides: cname desc url help upstream size
    desc = "Debian packages"
    [[mirrorz.info]]                      # passed through as mirrorz `info` (category view)

Status letters (one main, then auxiliaries; timestamps are Unix seconds, omitted when unknown):
success `S<last success>`, syncing and pre-syncing `Y<started>`, failed `F<ended>`, paused
`P<ended>`, disabled `D`, none `U`; auxiliaries `X<next run>` when one is scheduled and
`O<last success>` for a syncing, failed or paused mirror that succeeded before. The `{name}` of
`mirror_url` and `help_url` is filled in as one escaped path segment (`path_segment`): mirrorz
consumers resolve `url` against the site, so it must stay a path on the site. One mirror on several
workers is listed once: the master record, then the best status, then the newest success.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from aiohttp import web

from ..errors import ConfigError
from ..models import MirrorStatus, SyncStatus, timefmt

VERSION = 1.7
SITE_KEYS = ("url", "logo", "logo_darkmode", "abbr", "name", "homepage", "issue", "request", "email", "group",
             "disk", "note", "big")
MIRROR_KEYS = ("cname", "desc", "url", "help", "upstream", "size")
_RANK = {SyncStatus.SUCCESS: 0, SyncStatus.SYNCING: 1, SyncStatus.PRE_SYNCING: 1, SyncStatus.FAILED: 2,
         SyncStatus.PAUSED: 3, SyncStatus.NONE: 4, SyncStatus.DISABLED: 5}


@dataclass(frozen=True)
class MirrorzConfig:
    site: dict[str, str]
    mirror_url: str = "/{name}"
    help_url: str = ""
    hide: frozenset[str] = frozenset()
    mirrors: dict[str, dict[str, str]] = field(default_factory=dict)
    info: list[Any] = field(default_factory=list)


def parse_config(raw: dict[str, Any] | None, file: str | None = None) -> MirrorzConfig | None:
    """Validate the `[mirrorz]` table; None when it is absent or empty (mirrorz.json is then 404)."""
    if not raw:
        return None
    known = set(SITE_KEYS) | {"mirror_url", "help_url", "hide", "mirrors", "info"}
    for key in raw:
        if key not in known:
            raise ConfigError(file, f"mirrorz.{key}", f"unknown key (known: {', '.join(sorted(known))})")
    site: dict[str, str] = {}
    for key in SITE_KEYS:
        if key in raw:
            if not isinstance(raw[key], str):
                raise ConfigError(file, f"mirrorz.{key}", "must be a string")
            site[key] = raw[key]
    for key in ("abbr", "url"):
        if not site.get(key):
            raise ConfigError(file, f"mirrorz.{key}", "required by the mirrorz format")
    site["url"] = site["url"].rstrip("/")
    for key in ("mirror_url", "help_url"):
        if not isinstance(raw.get(key, ""), str):
            raise ConfigError(file, f"mirrorz.{key}", "must be a string")
    hide = raw.get("hide", [])
    if not isinstance(hide, list) or not all(isinstance(h, str) for h in hide):
        raise ConfigError(file, "mirrorz.hide", "must be a list of mirror names")
    mirrors: dict[str, dict[str, str]] = {}
    for name, table in (raw.get("mirrors") or {}).items():
        if not isinstance(table, dict):
            raise ConfigError(file, f"mirrorz.mirrors.{name}", "must be a table")
        for key, value in table.items():
            if key not in MIRROR_KEYS:
                raise ConfigError(file, f"mirrorz.mirrors.{name}.{key}", f"unknown key (known: {', '.join(MIRROR_KEYS)})")
            if not isinstance(value, str):
                raise ConfigError(file, f"mirrorz.mirrors.{name}.{key}", "must be a string")
        mirrors[name] = dict(table)
    info = raw.get("info", [])
    if not isinstance(info, list):
        raise ConfigError(file, "mirrorz.info", "must be an array of tables ([[mirrorz.info]])")
    return MirrorzConfig(site, raw.get("mirror_url", "/{name}"), raw.get("help_url", ""), frozenset(hide), mirrors, info)


def _ts(t: datetime) -> int | None:
    v = timefmt.unix(t)
    return v if v > 0 else None


def status_code(s: MirrorStatus) -> str:
    """The mirrorz status string of one record."""
    def part(letter: str, t: datetime) -> str:
        ts = _ts(t)
        return f"{letter}{ts}" if ts is not None else letter

    st = s.status
    if st == SyncStatus.SUCCESS:
        main = part("S", s.last_update)
    elif st in (SyncStatus.SYNCING, SyncStatus.PRE_SYNCING):
        main = part("Y", s.last_started)
    elif st == SyncStatus.FAILED:
        main = part("F", s.last_ended)
    elif st == SyncStatus.PAUSED:
        main = part("P", s.last_ended)
    elif st == SyncStatus.DISABLED:
        return "D"
    else:
        main = "U"
    nxt = _ts(s.next_schedule)
    if nxt is not None:
        main += f"X{nxt}"
    last_ok = _ts(s.last_update)
    if st in (SyncStatus.SYNCING, SyncStatus.PRE_SYNCING, SyncStatus.FAILED, SyncStatus.PAUSED) and last_ok:
        main += f"O{last_ok}"
    return main


def path_segment(name: str) -> str:
    """A mirror name as one URL path segment: `/` and anything not allowed in a path are escaped, so
    `/evil.example` gives `/%2Fevil.example` (under the site), never `//evil.example` (another host)."""
    return quote(name, safe="!$&'()*+,;=@")  # no ':': a relative url must not read as a scheme


def _pick(records: list[MirrorStatus]) -> MirrorStatus:
    return min(records, key=lambda s: (not s.is_master, _RANK.get(s.status, 9), -timefmt.unix(s.last_update)))


def build(cfg: MirrorzConfig, statuses: Iterable[MirrorStatus]) -> dict[str, Any]:
    """The mirrorz.json document for these status records."""
    by_name: dict[str, list[MirrorStatus]] = {}
    for s in statuses:
        if s.name and s.name not in cfg.hide:
            by_name.setdefault(s.name, []).append(s)
    mirrors = []
    for name in sorted(by_name):
        s = _pick(by_name[name])
        over = cfg.mirrors.get(name, {})
        segment = path_segment(name)
        entry = {
            "cname": over.get("cname", name),
            "desc": over.get("desc", ""),
            "url": over.get("url", cfg.mirror_url.replace("{name}", segment)),
            "status": status_code(s),
            "help": over.get("help", cfg.help_url.replace("{name}", segment)),
            "upstream": over.get("upstream", s.upstream),
            "size": over.get("size", "" if s.size in ("", "unknown") else s.size),
        }
        mirrors.append(entry)
    return {"version": VERSION, "site": dict(cfg.site), "info": list(cfg.info), "mirrors": mirrors}


def setup(app: web.Application) -> None:
    """Add `GET /mirrorz.json` (404 with a hint while `[mirrorz]` is not configured)."""
    from aiohttp import web

    from ..models import gojson
    from .state import STATE

    st = app[STATE]
    cfg = parse_config(st.config.mirrorz, st.config.source)

    async def handler(_request: web.Request) -> web.Response:
        # mirrorz.org's dynamic frontend fetches this from the browser: allow any origin.
        cors = {"Access-Control-Allow-Origin": "*"}
        if cfg is None:
            return web.Response(status=404, headers=cors, content_type="application/json", charset="utf-8",
                                text='{"error":"mirrorz is not configured: add a [mirrorz] section with abbr and url"}')
        doc = build(cfg, await st.db.list_all_mirror_status())
        return web.Response(text=gojson.dumps(doc), headers=cors, content_type="application/json", charset="utf-8")

    app.router.add_get("/mirrorz.json", handler, allow_head=False)
