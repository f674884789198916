"""Root test configuration (unit and end-to-end).

- Everything under tests/e2e/ is marked `e2e` automatically, so
  `python -m pytest -m "not e2e"` runs the fast unit tests only.
- The e2e tests run last. Playwright's sync API keeps an event loop running in the
  main thread from its first use until the end of the session, and pytest-asyncio
  cannot run an async test after that ("Runner.run() cannot be called from a running
  event loop"). So: async tests belong in tests/unit/, never in tests/e2e/.
"""

from pathlib import Path

import pytest

E2E_DIR = Path(__file__).parent / "e2e"


def _is_e2e(item: pytest.Item) -> bool:
    return E2E_DIR in Path(str(item.path)).parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_e2e(item):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=_is_e2e)  # stable: unit tests first, e2e after, order otherwise kept
