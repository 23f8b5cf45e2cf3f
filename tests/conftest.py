"""Shared pytest fixtures.

The shared test data lives outside the repository (../shared/data relative to
the repo root in CI, /work/shared/data on dev machines), so tests that need it
skip with a clear reason instead of failing when it is absent.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA_DIR = (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the shared test data directory; skips the test when it is absent."""
    if not SHARED_DATA_DIR.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA_DIR}")
    return SHARED_DATA_DIR
