"""Fixtures for provider tests (helpers in support.py)."""

from __future__ import annotations

import pytest

from .support import emulator_env


@pytest.fixture(scope="session")
def emulators() -> dict[str, str]:
    return emulator_env()
