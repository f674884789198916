"""The README's Map names real files: a renamed module fails here until the Map follows."""

from __future__ import annotations

import re
from pathlib import Path

from portal_app import routes

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "portal_app"


def _map_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Map", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| route")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _exists(base: Path, name: str) -> bool:
    if "*" in name:
        return any(base.glob(name))
    return (base / name).exists()


def _resolve(column: str, name: str, first_dir: str) -> tuple[Path, str]:
    """(folder, file) for a Map entry in `column`; a bare file name sits beside the column's first file."""
    if column == "services":
        if "/" in name and not name.endswith("/"):
            return APP, name
        return APP / "services", name.rstrip("/") if name.endswith("/") else f"{name}.py"
    if column == "tests":
        return ROOT / "tests" / ("" if name.startswith("e2e/") else "unit"), name
    if "/" in name:
        return APP, name
    return APP / first_dir, name


def test_the_map_lists_every_route_and_only_existing_files():
    rows = _map_rows()
    assert len(rows) >= 15
    columns = ("route", "page", "state", "services", "tests")
    missing = []
    for row in rows:
        assert len(row) == len(columns), row
        for column, cell in zip(columns, row, strict=True):
            if column == "route":
                continue
            names = _names(cell)
            first_dir = str(Path(names[0]).parent) if names else ""
            for name in names:
                if column == "services" and name in ("access", "counts", "review", "items", "actions"):
                    name = f"tasks/{name}.py"
                    base = APP / "services"
                else:
                    base, name = _resolve(column, name, first_dir)
                if not _exists(base, name):
                    missing.append(f"{column}: {name}")
    assert missing == []

    mapped = " ".join(row[0] for row in rows)
    pages = [value for key, value in vars(routes).items()
             if key.isupper() and isinstance(value, str) and value.startswith("/") and "{" not in value]
    unmapped = [route for route in pages if route != routes.STAFF_HOME  # the same page as ONBOARDING
                and f"`{route}`" not in mapped and f"`{route}?" not in mapped]
    assert unmapped == []
