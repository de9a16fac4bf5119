import dataclasses
import typing

import pytest

from common.config import TrainConfig, apply_overrides, field_help, load_config, option, save_config
from common.errors import UserError


@dataclasses.dataclass
class ToyConfig(TrainConfig):
    units: int = option(8, "units")
    bidirectional: bool = option(True, "both directions")
    cell: str = option("lstm", "cell")

    def validate(self):
        if self.units < 1:
            raise UserError("units must be at least 1")


def test_overrides_are_parsed_with_field_types():
    config = apply_overrides(ToyConfig(), ["units=128", "bidirectional=false", "learning_rate=0.01", "cell=gru"])
    assert (config.units, config.bidirectional, config.learning_rate, config.cell) == (128, False, 0.01, "gru")


def test_unknown_key_lists_valid_ones():
    with pytest.raises(UserError, match=r"unknown option 'unit'.*valid: .*units"):
        apply_overrides(ToyConfig(), ["unit=3"])


@pytest.mark.parametrize("item", ["units=many", "bidirectional=maybe", "epochs"])
def test_badly_typed_or_malformed_override_is_an_error(item):
    with pytest.raises(UserError):
        apply_overrides(ToyConfig(), [item])


def test_validate_runs_after_overrides():
    with pytest.raises(UserError, match="units"):
        apply_overrides(ToyConfig(), ["units=0"])


def test_config_round_trips_through_json(tmp_path):
    config = apply_overrides(ToyConfig(), ["units=3"])
    save_config(config, tmp_path / "config.json")
    assert load_config(ToyConfig, tmp_path / "config.json") == config


def test_every_field_has_help():
    assert all(help_text for _, _, _, help_text in field_help(ToyConfig))


@dataclasses.dataclass
class ForwardOnlyConfig(TrainConfig):
    REFUSED_OPTIONS: typing.ClassVar[dict[str, str]] = {"bidirectional": "it would read the future"}


def test_a_refused_option_is_an_error_with_its_reason():
    with pytest.raises(UserError, match=r"option 'bidirectional' is refused for this task: it would read the future"):
        apply_overrides(ForwardOnlyConfig(), ["bidirectional=true"])


def test_the_refusal_table_is_not_an_option():
    with pytest.raises(UserError, match="unknown option 'REFUSED_OPTIONS'"):
        apply_overrides(ForwardOnlyConfig(), ["REFUSED_OPTIONS=x"])
