import dataclasses
import os
import signal
import subprocess
import sys
import threading
import typing

import pytest

from common import runs
from common.config import TrainConfig
from common.errors import UserError
from common.files import LockHeld, acquire_lock
from tests.helpers import ROOT


def test_same_config_resumes_the_unfinished_run():
    first = runs.start_run("toy", TrainConfig())
    first.release()  # as when its process ends
    again = runs.start_run("toy", TrainConfig(verbose="2"))  # reporting only: still the same run
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


def test_every_option_that_changes_the_result_is_part_of_the_run():
    # epochs=6 killed after its 5th epoch was taken over by epochs=4 and reported as 4 epochs.
    six = runs.start_run("toy", TrainConfig(epochs=6))
    six.release()
    four = runs.start_run("toy", TrainConfig(epochs=4))
    assert not four.resumed and four.path != six.path
    four.release()
    for option in ("patience", "batch_size", "learning_rate", "deterministic"):
        changed = dataclasses.replace(TrainConfig(), **{option: option_changed(option)})
        assert runs.config_hash(changed) != runs.config_hash(TrainConfig()), option
    # How a run reports, and how long a command waits, do not change what it computes.
    same = TrainConfig(epochs=6, verbose="2", wait=True, startup_timeout=5.0)
    assert runs.start_run("toy", same).path == six.path


def option_changed(option):
    value = getattr(TrainConfig(), option)
    return (not value) if isinstance(value, bool) else value * 2


@dataclasses.dataclass
class WithAddedOption(TrainConfig):
    """A config that gained an option after runs existed; at 0.0 it computes what they did."""

    ADDED_OPTIONS: typing.ClassVar[tuple[str, ...]] = ("smoothing",)
    smoothing: float = 0.0


def test_an_option_added_later_keeps_older_runs_at_its_default_and_is_hashed_otherwise():
    before = runs.start_run("toy", TrainConfig(epochs=6))
    before.release()
    assert runs.config_hash(WithAddedOption(epochs=6)) == runs.config_hash(TrainConfig(epochs=6))
    resumed = runs.start_run("toy", WithAddedOption(epochs=6))
    assert resumed.resumed and resumed.path == before.path
    resumed.release()
    assert "smoothing" not in runs.run_identity(WithAddedOption())
    assert runs.run_identity(WithAddedOption(smoothing=0.1))["smoothing"] == 0.1
    other = runs.start_run("toy", WithAddedOption(epochs=6, smoothing=0.1))
    assert not other.resumed and other.path != before.path


def test_the_content_of_each_input_file_is_part_of_the_run(tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngood,pos\n")
    first = runs.start_run("toy", TrainConfig(dataset=str(data)))
    first.release()
    data.write_text("text,label\nbad,neg\n")  # edited between a crash and the rerun
    edited = runs.start_run("toy", TrainConfig(dataset=str(data)))
    assert not edited.resumed and edited.path != first.path
    assert runs.run_identity(TrainConfig(dataset=str(data)))["input_files"]["dataset"]


def test_multi_worker_and_one_process_runs_never_share_a_run():
    one = runs.start_run("toy", TrainConfig())
    one.release()
    two = runs.start_run("toy", TrainConfig(), workers=2)
    assert not two.resumed and two.path != one.path


def test_a_named_run_started_with_other_options_is_refused_in_one_line():
    runs.start_run("toy", TrainConfig(run_name="mine", epochs=6)).release()
    with pytest.raises(UserError, match=r"run 'mine' was started with other options: epochs=6 \(now 4\)") as error:
        runs.start_run("toy", TrainConfig(run_name="mine", epochs=4))
    assert "\n" not in str(error.value)
    assert runs.start_run("toy", TrainConfig(run_name="mine", epochs=6)).resumed


def test_a_named_run_whose_identity_is_unreadable_starts_again(capsys):
    run = runs.start_run("toy", TrainConfig(run_name="mine"))
    (run.path / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (run.path / runs.IDENTITY_FILE).write_text("{torn")
    run.release()
    again = runs.start_run("toy", TrainConfig(run_name="mine"))
    assert not again.resumed and not (again.path / "history.csv").exists()
    assert "identity.json is unreadable" in capsys.readouterr().out


def test_wait_true_reuses_the_run_that_finished_while_it_waited():
    run = runs.start_run("toy", TrainConfig())
    threading.Timer(0.5, run.finish).start()
    waited = runs.start_run("toy", TrainConfig(wait=True))
    assert waited.reused and waited.final_path == run.final_path and waited.path == run.final_path
    assert not list((runs.runs_root() / "toy" / ".incomplete").iterdir())  # no duplicate begun
