"""Fault injection: `main.py train` killed with SIGKILL at named places (failpoints), then
the same command run again, must finish the run; a second identical command at once must
stop with a message; a full disk must be one line and leave the run resumable."""

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from bench import faults
from tests.helpers import ROOT
from tests.tasks.sentiment.toy import review_rows, write_csv

OPTIONS = ["epochs=3", "units=8", "embedding_dim=8", "batch_size=16", "verbose=0", "patience=5"]
# Kills anywhere: a resume restores the last epoch backup (weights, optimizer, dropout's
# random state) and moves the data on to the next epoch's shuffle, so the finished run
# equals an uninterrupted one (to float tolerance where an epoch is trained again).
# make test kills at an epoch's end; the full-disk test below resumes at the export.
KILLS = [
    "epoch_end:2",
    pytest.param("export", marks=pytest.mark.slow),
    pytest.param("batch:7", marks=pytest.mark.slow),
    pytest.param("before_fit", marks=pytest.mark.slow),
    pytest.param("model_saved", marks=pytest.mark.slow),
    pytest.param("best_weights:2", marks=pytest.mark.slow),
]


def train(folder, data, kill_at="", wait=False, extra=()):
    environment = dict(os.environ, RNN_SUITE_RUNS=str(folder / "runs"), TF_CPP_MIN_LOG_LEVEL="3")
    environment.pop("RNN_SUITE_KILL_AT", None)
    if kill_at:
        environment["RNN_SUITE_KILL_AT"] = kill_at
    command = [sys.executable, "main.py", "train", "sentiment", f"dataset={data}", *OPTIONS]
    return subprocess.Popen(
        command + list(extra) + (["wait=true"] if wait else []),
        cwd=ROOT,
        env=environment,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(process):
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def finished_metrics(folder) -> list[dict]:
    root = folder / "runs" / "sentiment"
    return [json.loads((run / "metrics.json").read_text()) for run in root.iterdir() if not run.name.startswith(".")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("faults") / "reviews.csv", review_rows(400))


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    code, _, err = finish(train(folder, data))
    assert code == 0, err[-2000:]
    return finished_metrics(folder)[0]


@pytest.mark.parametrize("kill_at", KILLS)
def test_a_run_killed_anywhere_finishes_when_the_command_runs_again(kill_at, data, uninterrupted, tmp_path):
    code, _, _ = finish(train(tmp_path, data, kill_at))
    assert code == -signal.SIGKILL, f"the failpoint {kill_at} was never reached"
    code, out, err = finish(train(tmp_path, data))
    assert code == 0 and "Traceback" not in err, err[-2000:]
    assert "resuming unfinished run" in out
    [metrics] = finished_metrics(tmp_path)
    assert not list((tmp_path / "runs" / "sentiment" / ".incomplete").glob("*/"))
    assert metrics["epochs"] == uninterrupted["epochs"]
    assert metrics["accuracy"] == uninterrupted["accuracy"]
    assert metrics["loss"] == pytest.approx(uninterrupted["loss"], rel=1e-5)


def test_a_second_identical_command_stops_with_a_message_or_waits(data, tmp_path, monkeypatch):
    # The first run holds at its start until the test releases it: no sleep races the machine.
    release = tmp_path / "release"
    monkeypatch.setenv("RNN_SUITE_RELEASE", str(release))
    first = train(tmp_path, data, "hold@before_fit")
    incomplete = tmp_path / "runs" / "sentiment" / ".incomplete"
    while not list(incomplete.glob("*/.lock")):
        assert first.poll() is None, first.communicate()[1][-2000:]
        time.sleep(0.1)
    code, _, err = finish(train(tmp_path, data))
    assert code == 2 and f"is being trained by process {first.pid}" in err and "Traceback" not in err
    waiting = train(tmp_path, data, wait=True)
    assert waiting.stdout.readline().startswith(f"waiting for process {first.pid}")
    release.touch()
    assert finish(first)[0] == 0
    code, out, _ = finish(waiting)
    # The waiter found the run finished and reused it: no duplicate trained.
    assert code == 0 and "was finished by the process this command waited for; using it" in out
    assert len(finished_metrics(tmp_path)) == 1


def test_a_full_disk_is_one_line_and_the_run_resumes(data, tmp_path):
    code, _, err = finish(train(tmp_path, data, "disk_full@export"))
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"error: the disk is full while writing {tmp_path}/runs/sentiment/")
    assert "/export; free some space" in err
    code, out, _ = finish(train(tmp_path, data))
    assert code == 0 and "resuming unfinished run" in out and "training had finished" in out


@pytest.fixture
def small_filesystem(tmp_path):
    """A fresh tmpfs of 2 MB mounted at tmp_path/disk (needs root; else the test is
    skipped, saying why). Yields its folder; unmounted afterwards."""

    def mount(*options):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        if os.geteuid() != 0 or not shutil.which("mount"):
            pytest.skip("a real full disk needs root to mount a small tmpfs; not run on this machine")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", ",".join(["size=2m", *options]), "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the real full-disk test did not run")
        mounted.append(folder)
        return folder

    mounted = []
    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder, leave: int):
    """Fill a filesystem until `leave` bytes are free; returns the filler file."""
    stats = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - leave))
    return filler


@pytest.mark.slow
def test_a_really_full_disk_is_one_line_naming_the_file_and_the_run_resumes_once_freed(
    data, uninterrupted, small_filesystem
):
    # The reported failure: ~130 lines of HDF5 errors, a segfault, and every rerun failing
    # on the weights file the full disk had torn.
    disk = small_filesystem()
    filler = fill(disk, leave=250 * 1024)  # a toy run needs about 400 KB before its export
    code, _, err = finish(train(disk, data))
    assert code == 2, f"exit {code} (139/-11 is a segfault): {err[-2000:]}"
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: the disk is full while writing {disk}/runs/sentiment/.incomplete/"), last
    assert "Traceback" not in err and "errno = 28" not in err
    filler.unlink()  # space freed: the same command finishes the run, as if never stopped
    code, out, err = finish(train(disk, data))
    assert code == 0 and "resuming unfinished run" in out and "Traceback" not in err, err[-2000:]
    [metrics] = finished_metrics(disk)
    assert metrics["epochs"] == uninterrupted["epochs"]
    assert metrics["loss"] == pytest.approx(uninterrupted["loss"], rel=1e-5)


def test_a_read_only_runs_folder_is_one_line(data, small_filesystem):
    disk = small_filesystem("ro")
    code, _, err = finish(train(disk, data))
    assert code == 2 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines()[-1].startswith(f"error: cannot write {disk}/runs (Read-only file system)")


@pytest.mark.slow
def test_a_rerun_with_fewer_epochs_never_takes_over_a_longer_run(data, uninterrupted, tmp_path):
    # The reported failure: epochs=6 killed after its 5th epoch, then epochs=4 took that run
    # over and wrote metrics for 4 epochs from the 5th epoch's best weights.
    code, _, _ = finish(train(tmp_path, data, "epoch_end:4", extra=["epochs=5"]))
    assert code == -signal.SIGKILL
    code, out, err = finish(train(tmp_path, data))
    assert code == 0 and "resuming" not in out and "Traceback" not in err, err[-2000:]
    [metrics] = finished_metrics(tmp_path)
    assert metrics["epochs"] == uninterrupted["epochs"] and metrics["accuracy"] == uninterrupted["accuracy"]
    assert metrics["loss"] == pytest.approx(uninterrupted["loss"], rel=1e-5)


@pytest.mark.slow
def test_data_edited_between_a_kill_and_the_rerun_is_another_run(tmp_path):
    # The reported failure: "A total of 2 objects could not be loaded" on every rerun.
    data = write_csv(tmp_path / "reviews.csv", review_rows(400))
    code, _, _ = finish(train(tmp_path, data, "epoch_end:2"))
    assert code == -signal.SIGKILL
    write_csv(data, review_rows(300, seed=1, classes=("pos", "neg", "mixed")))
    code, out, err = finish(train(tmp_path, data))
    assert code == 0 and "resuming" not in out and "Traceback" not in err, err[-2000:]
    [run] = [path for path in (tmp_path / "runs" / "sentiment").iterdir() if not path.name.startswith(".")]
    summary = json.loads((run / "data.json").read_text())["summary"]
    assert summary["examples"] == 300 and summary["classes"] == 3


@pytest.mark.slow
def test_torn_best_weights_after_the_last_epoch_are_trained_again_to_the_same_result(data, uninterrupted, tmp_path):
    # The reported failure: OSError (truncated file) on every rerun.
    code, _, _ = finish(train(tmp_path, data, "model_saved"))
    assert code == -signal.SIGKILL
    [best] = (tmp_path / "runs" / "sentiment" / ".incomplete").glob("*/checkpoints/best.weights.h5")
    best.write_bytes(best.read_bytes()[:5000])
    code, out, err = finish(train(tmp_path, data))
    assert code == 0 and "best.weights.h5 is unreadable" in out and "Traceback" not in err, err[-2000:]
    [metrics] = finished_metrics(tmp_path)
    assert metrics["accuracy"] == uninterrupted["accuracy"]
    assert metrics["loss"] == pytest.approx(uninterrupted["loss"], rel=1e-5)


def test_the_fault_benchmark_imports_no_test_code():
    tree = ast.parse((ROOT / "bench" / "faults.py").read_text(encoding="utf-8"))
    modules = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in modules if name == "tests" or name.startswith("tests.")]


def test_the_fault_benchmark_tells_where_a_kill_landed_from_the_files_left(tmp_path):
    assert faults.phase_reached(tmp_path) == "start-up"
    run = tmp_path / "sentiment" / ".incomplete" / "20260101-000000-lstm-0123abcd"
    run.mkdir(parents=True)
    assert faults.phase_reached(tmp_path) == "start-up"
    (run / "tensorboard").mkdir()
    assert faults.phase_reached(tmp_path) == "epoch"
    (run / "history.csv").write_text("epoch,loss\n" + "".join(f"{epoch},0.5\n" for epoch in range(faults.EPOCHS)))
    assert faults.phase_reached(tmp_path) == "save"
    (run / "model.keras").write_text("")
    assert faults.phase_reached(tmp_path) == "export"
    run.rename(tmp_path / "sentiment" / run.name)
    assert faults.phase_reached(tmp_path) == "finished"


@pytest.mark.slow
def test_the_same_command_twice_gives_the_same_figures(data, uninterrupted, tmp_path):
    code, _, err = finish(train(tmp_path, data))
    assert code == 0, err[-2000:]
    [again] = finished_metrics(tmp_path)
    timing = ("training_seconds", "examples_per_second")
    assert {key: value for key, value in again.items() if key not in timing} == {
        key: value for key, value in uninterrupted.items() if key not in timing
    }
