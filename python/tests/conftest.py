"""The tests call the 32-bit sample library of this repository
(sample-dll/sample.h) through a real surrogate32. DLLBRIDGE_SAMPLE32 names it
(build/i386/lib/libsample.so); ctest's python_package test sets it, and the C
library is found as users find it (tests/lang/python_test.cmake)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import dllbridge  # noqa: E402


@pytest.fixture(scope="session")
def sample():
    path = os.environ.get("DLLBRIDGE_SAMPLE32")
    if not path:
        pytest.fail("DLLBRIDGE_SAMPLE32 is not set: it must name the 32-bit sample library "
                    "(build/i386/lib/libsample.so); ctest's python_package test sets it")
    return path


@pytest.fixture
def bridge():
    with dllbridge.Bridge() as b:
        yield b


@pytest.fixture
def lib(bridge, sample):
    return bridge.load(sample)
