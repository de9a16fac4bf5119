"""Crash repair: a run killed at any moment, or with its files torn, resumes or starts again."""

import json
import shutil

import numpy as np
import pytest

from common import resume
from common.config import TrainConfig
from common.trainer import fit
from tests.common.toy import toy_data, toy_model

HEADER = "epoch,epoch_seconds,loss,val_loss\n"  # a history.csv header


@pytest.mark.parametrize(
    "content", ["", "epo", HEADER + "0,0.1,1.0,1.1\n1,0.1,0.9,1.0\n2,0.", HEADER + "0,0.1,1.0,1.1\n2\n"]
)
def test_a_history_cut_short_by_a_crash_is_repaired_and_training_finishes(tmp_path, content, capsys):
    # The reported failure: a run killed in its first epoch left a 0-byte history.csv and
    # every later run of the same command stopped with a pandas stack trace.
    (tmp_path / "history.csv").write_text(content)
    history = fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0"), tmp_path)
    assert len(history) >= 2 and history["loss"].notna().all()
    assert "cut short by a crash" in capsys.readouterr().out


def test_whole_rows_survive_the_repair(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.")
    resume.repair_history(path)
    assert path.read_text() == "epoch,loss\n0,1.0\n1,0.9\n"
    assert list(resume.read_history(path)["loss"]) == [1.0, 0.9]


def test_a_torn_backup_falls_back_to_the_previous_one_or_restarts(tmp_path, capsys):
    config = TrainConfig(epochs=3, verbose="0", patience=5)
    fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0"), tmp_path)
    backup = tmp_path / "backup"  # what a crash after the second epoch leaves
    (backup / "training_metadata.json").write_text('{"epoch": 2, "ba')
    assert resume.check_backup(backup)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    assert "resuming from the one of epoch 1" in capsys.readouterr().out
    (backup / "training_metadata.json").write_text("{")
    (backup / "training_metadata.json.bkp").write_text("{")
    assert not resume.check_backup(backup)
    assert not backup.exists() and "from its first epoch" in capsys.readouterr().out
    history = fit(toy_model(), toy_data(), toy_data(), config, tmp_path)
    assert len(history) == 3


def test_weights_without_their_epoch_record_are_not_restored(tmp_path, capsys):
    # The reported failure: a full disk left only latest.weights.h5, which passed the check,
    # and the resume loaded it as if no epoch had been trained.
    fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0", patience=5), tmp_path)
    backup = tmp_path / "backup"
    for name in ("training_metadata.json", "training_metadata.json.bkp", "latest.weights.h5.bkp"):
        (backup / name).unlink()
    assert not resume.check_backup(backup)
    assert "from its first epoch" in capsys.readouterr().out


def test_an_epoch_record_naming_other_weights_falls_back_to_the_pair_that_matches(tmp_path, capsys):
    # A crash between writing the weights and the record pairs one epoch's weights with another's record.
    fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0", patience=5), tmp_path)
    backup = tmp_path / "backup"
    shutil.copyfile(backup / "training_metadata.json.bkp", backup / "training_metadata.json")
    assert resume.check_backup(backup)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 1
    assert resume.pairs_with(backup / "training_metadata.json", backup / "latest.weights.h5")
    assert "the one of epoch 1" in capsys.readouterr().out


def test_torn_best_weights_after_the_last_epoch_train_the_run_again(tmp_path, capsys):
    # The reported failure: an OSError (truncated file) on every rerun.
    config = TrainConfig(epochs=2, verbose="0", patience=5)
    fit(toy_model(), toy_data(), toy_data(), config, tmp_path)
    best = tmp_path / "checkpoints" / "best.weights.h5"
    best.write_bytes(best.read_bytes()[:3000])
    history = fit(toy_model(), toy_data(), toy_data(), config, tmp_path)
    assert "best.weights.h5 is unreadable or missing; training this run again" in capsys.readouterr().out
    assert list(history["epoch"]) == [0, 1] and resume.readable_weights(best)


def test_a_run_killed_after_its_last_epoch_is_not_trained_again(tmp_path, capsys):
    config = TrainConfig(epochs=2, verbose="0")
    model = toy_model()
    fit(model, toy_data(), toy_data(), config, tmp_path)
    trained = model.get_weights()
    again = toy_model()  # a fresh process: new weights, then the resume
    history = fit(again, toy_data(), toy_data(), config, tmp_path)
    assert "training had finished before the interruption (2 epochs)" in capsys.readouterr().out
    assert len(history) == 2 and all(np.allclose(a, b) for a, b in zip(trained, again.get_weights()))


def test_torn_backup_weights_fall_back_to_the_previous_backup(tmp_path, capsys):
    fit(toy_model(), toy_data(), toy_data(), TrainConfig(epochs=2, verbose="0", patience=5), tmp_path)
    weights = tmp_path / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # killed while writing it
    assert not resume.readable_weights(weights)
    assert resume.check_backup(tmp_path / "backup")
    assert resume.readable_weights(weights) and "the one of epoch 1" in capsys.readouterr().out
