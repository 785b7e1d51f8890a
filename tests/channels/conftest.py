"""The channels' tests: ``async def`` tests marked ``pytest.mark.anyio`` run on asyncio (the
worker's loop), through anyio's pytest plugin."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
