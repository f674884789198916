"""What every benchmark does before building its database: start from an empty SQLite file."""

from __future__ import annotations

from pathlib import Path

from portal_app import db


def start_fresh(url: str, path: Path | str) -> None:
    """Delete the database at `path` (and its journal files) and migrate a new one at `url`."""
    db.forget(url)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db.migrate(url)
