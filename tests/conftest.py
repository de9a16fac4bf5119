"""Shared test set-up: every test writes runs into its own temporary folder, with op
determinism on; under pytest-xdist each file runs in one worker."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common.runtime import set_determinism  # noqa: E402 - after the log level, which TensorFlow reads on import

TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items):
    """Group the tests for `make test`'s workers (`--dist loadgroup`): each file's tests run
    in one worker, so a module's trained toy run is built once, and all of tests/serving/
    in one, since its files share the session's toy exports (a minute to train)."""
    for item in items:
        part = item.path.relative_to(TESTS)
        group = "serving" if part.parts[0] == "serving" else part.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def op_determinism_as_users_get_it():
    """Every test runs with TensorFlow op determinism on, as every training command does by
    default, whichever test ran before it (a run with deterministic=false turns it off for
    the whole process), so no result depends on the order tests run in."""
    set_determinism(True)


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Runs go to a temporary folder, never into the project's runs/."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("RNN_SUITE_RUNS", str(runs))
    return runs
