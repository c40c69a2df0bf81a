"""Benchmarks print figures; they are selected with -m benchmark (scripts/benchmarks.sh)."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/benchmarks" in str(item.fspath):
            item.add_marker(pytest.mark.benchmark)
