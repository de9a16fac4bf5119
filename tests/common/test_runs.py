import os
import signal
import subprocess
import sys
import threading

import pytest

from common import runs
from common.config import TrainConfig
from common.errors import UserError
from common.files import LockHeld, acquire_lock
from tests.helpers import ROOT


def test_same_config_resumes_the_unfinished_run():
    first = runs.start_run("toy", TrainConfig())
    first.release()  # as when its process ends
    again = runs.start_run("toy", TrainConfig(epochs=50))  # more epochs: still the same run
    assert again.resumed and again.path == first.path
    other = runs.start_run("toy", TrainConfig(seed=7))
    assert not other.resumed and other.path != first.path


def test_finished_run_appears_in_one_step_and_is_found():
    run = runs.start_run("toy", TrainConfig())
    (run.path / "metrics.json").write_text("{}")
    assert not run.final_path.exists()
    final = run.finish()
    assert (final / "metrics.json").exists() and not run.path.exists()
    assert runs.find_run("toy") == final
    assert runs.find_run("toy", final.name) == final


def test_missing_runs_are_clear_errors():
    with pytest.raises(UserError, match="make train TASK=toy"):
        runs.find_run("toy")
    with pytest.raises(UserError, match="no finished run 'nope'"):
        runs.find_run("toy", "nope")


def test_named_run_that_exists_is_refused():
    runs.start_run("toy", TrainConfig(run_name="mine")).finish()
    with pytest.raises(UserError, match="already exists"):
        runs.start_run("toy", TrainConfig(run_name="mine"))


def test_bad_input_mid_run_discards_it_but_a_crash_keeps_it_for_resuming():
    run = runs.start_run("toy", TrainConfig())
    with pytest.raises(UserError):
        with run.discarded_on_user_error():
            raise UserError("bad embeddings file")
    assert not run.path.exists()
    kept = runs.start_run("toy", TrainConfig())
    assert not kept.resumed
    with pytest.raises(RuntimeError):
        with kept.discarded_on_user_error():
            raise RuntimeError("out of memory")
    assert kept.path.exists()


def test_reports_are_written_under_the_task_folder():
    path = runs.write_report("toy", "bench", "| a |\n|---|")
    assert path.parent == runs.runs_root() / "toy" and path.name.startswith("bench-")
    assert path.read_text() == "| a |\n|---|\n"


def test_a_second_writer_of_the_same_run_is_told_who_holds_it():
    run = runs.start_run("toy", TrainConfig())
    with pytest.raises(UserError, match=f"being trained by process {os.getpid()};.*wait=true"):
        runs.start_run("toy", TrainConfig())
    assert [path for path in run.path.parent.iterdir() if path.is_dir()] == [run.path]  # no second folder


def test_wait_true_waits_for_the_holder_then_resumes():
    run = runs.start_run("toy", TrainConfig())
    threading.Timer(0.5, run.release).start()
    waited = runs.start_run("toy", TrainConfig(wait=True))
    assert waited.resumed and waited.path == run.path


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    lock = tmp_path / "run" / ".lock"
    code = "import os, sys; from common.files import acquire_lock; acquire_lock(sys.argv[1]); print('held', flush=True)"
    code += "; os.kill(os.getpid(), 9)"
    holder = subprocess.run([sys.executable, "-c", code, str(lock)], capture_output=True, text=True, cwd=ROOT)
    assert holder.returncode == -signal.SIGKILL and "held" in holder.stdout
    acquire_lock(lock).close()  # the OS released it with the process
    first = acquire_lock(lock)
    with pytest.raises(LockHeld) as held:
        acquire_lock(lock)
    assert held.value.pid == str(os.getpid())
    first.close()
