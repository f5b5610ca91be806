"""Fixtures shared by the dashboard tests."""

import pytest

from dashboard.store import open_store


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite dashboard store in the test's temporary directory."""
    s = open_store(f"sqlite:///{tmp_path / 'dash.db'}")
    yield s
    s.close()
