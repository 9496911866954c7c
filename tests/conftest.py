"""Fixtures shared by the test modules (plain constants and builders are in tests/helpers.py)."""

from __future__ import annotations

import pytest
import torch

from helpers import TINY_MODEL


@pytest.fixture
def one_thread():
    """Run a test on one torch thread (small ops suffer from thread start-up on a shared machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tiny_model_config() -> dict:
    return dict(TINY_MODEL)
