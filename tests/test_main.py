"""The command line: unknown tasks and missing runs are one-line errors."""

from tests.helpers import run_cli


def test_unknown_task_is_an_error(capsys):
    assert run_cli("train", "sentimant") == 2
    assert "unknown task 'sentimant'; choose one of sentiment" in capsys.readouterr().err


def test_predict_without_text_or_run_is_an_error(capsys, monkeypatch):
    assert run_cli("predict", "sentiment", "--text", "x") == 2
    assert "no finished sentiment run" in capsys.readouterr().err
