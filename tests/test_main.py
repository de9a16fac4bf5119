"""The command line: unknown tasks and missing runs are one-line errors."""

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
