"""Shared test set-up: every test writes runs into its own temporary folder, with op
determinism on."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common.runtime import set_determinism  # noqa: E402 - after the log level, which TensorFlow reads on import


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
