from common.cells import CELL_NAMES
from common.compare import comparison_table
from common.task import BIDIRECTIONAL_VARIANTS, RECURRENT_VARIANTS


def test_table_lists_results_and_refused_variants():
    rows = [("gru", {"accuracy": 0.75, "parameters": 10, "epochs": 3}, "run-1"), ("bidirectional_lstm", None, "no")]
    lines = comparison_table(["accuracy"], rows).splitlines()
    assert lines[0].startswith("| variant | accuracy | parameters")
    assert lines[2].startswith("| gru | 0.7500 | 10 | 3 |") and lines[2].endswith("| run-1 |")
    assert lines[3].endswith("| not run: no |")


def test_table_says_cudnn_next_to_speed_and_a_tcns_receptive_field():
    rows = [
        ("lstm", {"examples_per_second": 900.0, "cudnn": "yes"}, "run-1"),
        ("tcn", {"examples_per_second": 1200.0, "cudnn": "n/a", "receptive_field": 61}, "run-2"),
    ]
    lines = comparison_table([], rows).splitlines()
    assert lines[0].endswith("| examples_per_second | cudnn | receptive_field | run |")
    assert lines[2].endswith("| 900.0 | yes | - | run-1 |") and lines[3].endswith("| 1200.0 | n/a | 61 | run-2 |")


def test_every_variant_names_a_known_cell():
    for variants in (RECURRENT_VARIANTS, BIDIRECTIONAL_VARIANTS):
        assert {"peephole_lstm", "leaky_rnn", "tcn"} <= set(variants)
        assert all(variant["cell"] in CELL_NAMES for variant in variants.values())
