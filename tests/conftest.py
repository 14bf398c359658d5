"""Shared fixtures. `redis_server`: a real, throwaway redis-server on a free loopback port."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from gate.testing import RedisServer


def redis_binary() -> str:
    """redis-server from PATH; skipped when absent, except under CI where that is a failure."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not on PATH and CI is set: install it (apt-get install redis-server)")
        pytest.skip("redis-server is not on PATH (apt-get install redis-server); these tests need a real Redis")
    return binary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
