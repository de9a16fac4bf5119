from common.compare import comparison_table


def test_table_lists_results_and_refused_variants():
    rows = [("gru", {"accuracy": 0.75, "parameters": 10, "epochs": 3}, "run-1"), ("bidirectional_lstm", None, "no")]
    lines = comparison_table(["accuracy"], rows).splitlines()
    assert lines[0].startswith("| variant | accuracy | parameters")
    assert lines[2].startswith("| gru | 0.7500 | 10 | 3 |") and lines[2].endswith("| run-1 |")
    assert lines[3].endswith("| not run: no |")
