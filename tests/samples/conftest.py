"""Fixtures for the sample tests: generated samples, run once per module, in throwaway folders."""

from __future__ import annotations

import pytest
from samples_data import USER


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWPATH_USER", USER)
