"""Shared test set-up: every test writes runs into its own temporary folder."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Runs go to a temporary folder, never into the project's runs/."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("RNN_SUITE_RUNS", str(runs))
    return runs
