"""Manager storage: one interface (`base.Database`), SQLite and Redis implementations."""

from __future__ import annotations

from ...errors import ConfigError
from .base import Database, NotFound, RunRecord, StatusItem
from .godb import detect_go_database, resolve_storage


async def open_database(db_type: str, db_file: str, config_file: str | None = None) -> Database:
    """Open the backend a `[files]` db_type/db_file pair names; ConfigError (file, key) when it cannot."""
    storage = resolve_storage(db_type, db_file, config_file)
    try:
        if storage.kind == "redis":
            from .redisdb import RedisDatabase

            return await RedisDatabase.open(storage.location)
        from .sqlite import SqliteDatabase

        return await SqliteDatabase.open(storage.location)
    except ConfigError:
        raise
    except Exception as exc:  # sqlite3.Error, OSError, redis errors: name the key that led here
        raise ConfigError(config_file, "files.db_file", f"cannot open {storage.kind} database {storage.location}: {exc}") from exc


__all__ = ["Database", "NotFound", "RunRecord", "StatusItem", "detect_go_database", "open_database", "resolve_storage"]
