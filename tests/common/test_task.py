"""The task contract's shared pieces: assets records, result lines and variants."""

import dataclasses

import pytest

from common.config import TrainConfig
from common.errors import UserError
from common.task import (
    BIDIRECTIONAL_VARIANTS,
    FUNCTION_MODULES,
    Task,
    load_assets,
    save_assets,
)
from tasks import TASKS, get_task


@dataclasses.dataclass
class ToyAssets:
    vocabulary: list
    class_names: list


def test_assets_round_trip_through_json(tmp_path):
    assets = ToyAssets(["", "[UNK]", "héllo"], ["neg", "pos"])
    save_assets(assets, tmp_path / "assets.json")
    assert load_assets(ToyAssets, tmp_path / "assets.json") == assets


def test_missing_or_damaged_assets_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="assets.json is missing"):
        load_assets(ToyAssets, tmp_path / "assets.json")
    (tmp_path / "assets.json").write_text('{"vocabulary": []}')
    with pytest.raises(UserError, match="damaged or from an older version"):
        load_assets(ToyAssets, tmp_path / "assets.json")
    (tmp_path / "assets.json").write_text('{"vocabulary": [')
    with pytest.raises(UserError, match="damaged"):
        load_assets(ToyAssets, tmp_path / "assets.json")


def test_the_default_result_line_and_variants():
    class Toy(Task):
        main_metrics = ("accuracy", "macro_f1")

    assert Toy().result_line({"accuracy": 0.75, "macro_f1": 0.5, "loss": 1.0}) == (
        "test accuracy 0.7500, test macro_f1 0.5000"
    )
    assert Toy().variants() == BIDIRECTIONAL_VARIANTS


@pytest.mark.parametrize("name", TASKS)
def test_every_task_package_supplies_the_whole_contract(name):
    task = get_task(name)
    for part, module in FUNCTION_MODULES.items():
        if part != "cross_validation":
            found = task.part(part)
            assert isinstance(found, tuple) or found.__module__ == f"tasks.{name}.{module}", part
    assert issubclass(task.Config, TrainConfig) and dataclasses.is_dataclass(task.Assets)
    assert task.datasets and task.main_metrics and task.builtin_sources()


def test_a_task_without_cross_validation_refuses_folds():
    with pytest.raises(UserError, match="timeseries has no cross-validation"):
        get_task("timeseries").cross_validation(None)
    assert get_task("sentiment").part("cross_validation").__module__ == "tasks.sentiment.data"
