"""The staff chart page's own URL (`/staff/patients/ID`): which chart its sections act on.

The chart state and its sections (connections, documents, the Connect wizard) each read the
chart id from the page's URL on load, never from an argument a client sends.
"""

from __future__ import annotations

import re

CHART_PATH = re.compile(r"/staff/patients/(\d{1,12})/?$")
STALE = "This chart is no longer open here. Reload the page and try again."


def chart_id_in(path: str | None) -> int | None:
    """The patient id in a chart page's path, or None for any other path."""
    match = CHART_PATH.search(path or "")
    return int(match.group(1)) if match else None
