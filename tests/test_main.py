"""The command line: unknown tasks and missing runs are one-line errors."""

import main
from tests.helpers import run_cli


def test_unknown_task_is_an_error(capsys):
    assert run_cli("train", "sentimant") == 2
    error = capsys.readouterr().err
    assert "unknown task 'sentimant'; choose one of " in error and "sentiment" in error


def test_predict_before_any_finished_run_is_an_error(capsys, monkeypatch):
    assert run_cli("predict", "sentiment", "--text", "x") == 2
    assert "no finished sentiment run" in capsys.readouterr().err


def test_help_lists_every_task_when_asked_through_main_argv(capsys, monkeypatch):
    # The epilog comes from main()'s own argv, not from sys.argv.
    monkeypatch.setattr("sys.argv", ["pytest"])
    try:
        run_cli("--help")
    except SystemExit as exit:
        assert exit.code == 0
    printed = capsys.readouterr().out
    for task in ("sentiment", "tagging", "timeseries"):
        assert task in printed
    assert "units" in printed and "dataset" in printed


def test_a_full_disk_or_a_read_only_folder_is_one_line_naming_the_file():
    import errno

    hdf5 = RuntimeError(
        "Can't decrement id ref count (file write failed: name = '/r/best.weights.h5', errno = 28, ...)"
    )
    assert main.storage_error_line(hdf5) == (
        "error: the disk is full while writing /r/best.weights.h5; free some space and run the same command again"
    )
    tensorflow = Exception("could not write /r/export/variables/variables.data: No space left on device")
    assert main.storage_error_line(tensorflow).startswith("error: the disk is full")
    read_only = OSError(errno.EROFS, "Read-only file system", "/r/runs")
    assert main.storage_error_line(read_only).startswith("error: cannot write /r/runs (Read-only file system)")
    assert main.storage_error_line(ValueError("other")) is None
    assert main.storage_error_line(OSError(errno.ENOENT, "No such file", "/x")) is None
