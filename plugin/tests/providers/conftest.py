"""Fixtures for provider tests (helpers in provider_support.py)."""

from __future__ import annotations

import pytest

from .provider_support import emulator_env


@pytest.fixture(scope="session")
def emulators() -> dict[str, str]:
    return emulator_env()
