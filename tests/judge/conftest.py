from __future__ import annotations

import pytest
from judge_fakes import FakeClock, FakeSleep


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
