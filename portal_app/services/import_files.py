"""Uploaded import files on disk: a private folder, random names, a size limit kept while writing.

The Import patients page streams an upload here chunk by chunk (never the whole file in memory or
in state); the original name is only for display and never becomes part of a path. The folder is
`PORTAL_IMPORT_DIR` (default `private/imports` beside the app), made 0700; each file is 0600.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from portal_app.private_files import private_dir
from portal_app.services.errors import InvalidInput
from portal_app.services.validation import strip_bidi

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 200 * 1024 * 1024
FIELD = "file"
TOO_LARGE = "The file is larger than 200 MB. Split the export into smaller files and upload each."
EMPTY = "The file is empty. Choose the export file again."
NO_FILE = "Choose a file first."
NAME_LIMIT = 255


def configured_folder() -> Path:
    """Where uploads go (`PORTAL_IMPORT_DIR`, default `private/imports` beside the app); nothing is made."""
    return Path(os.environ.get("PORTAL_IMPORT_DIR") or ROOT / "private" / "imports")


def folder() -> Path:
    """The private upload folder (created 0700 on first use; its mode is set again each time)."""
    return private_dir(configured_folder())


def display_name(name: str) -> str:
    """The uploaded name as staff read it: its last path part, printable, at most 255 characters."""
    base = strip_bidi(name).replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(ch for ch in base if ch.isprintable()).strip()
    return (shown or "upload")[:NAME_LIMIT]


class Incoming:
    """One upload being written: `write` each chunk, then `finish` (or `discard` on any failure).

    Above MAX_BYTES the write refuses (InvalidInput beside the file control) and the partial file
    is removed, so a too-large upload never fills the disk.
    """

    def __init__(self, original_name: str) -> None:
        self.file_name = display_name(original_name)
        self.path = folder() / f"{secrets.token_hex(16)}.upload"
        self.size = 0
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise InvalidInput(NO_FILE, field=FIELD)
        if self.size + len(data) > MAX_BYTES:
            self.discard()
            raise InvalidInput(TOO_LARGE, field=FIELD)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)

    def finish(self) -> Path:
        """Close the file; an empty upload is refused (and removed)."""
        self._close()
        if self.size == 0:
            self.discard()
            raise InvalidInput(EMPTY, field=FIELD)
        return self.path

    def discard(self) -> None:
        self._close()
        self.path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
