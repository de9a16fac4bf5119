"""Training configuration: stdlib dataclasses with checked `key=value` overrides.

Every task subclasses `TrainConfig` and adds its own fields next to the code that
reads them. Overrides come from the command line (`ARGS="units=128 epochs=5"`), are
checked against the fields and their types, and an unknown key is an error that lists
the valid ones.
"""

import dataclasses
import json
import typing

from common.errors import UserError


def option(default, help: str):
    """A dataclass field with a default and a one-line help text for `--help`."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainConfig:
    """Options every task shares. Tasks add their own in a subclass."""

    dataset: str = option("", "built-in dataset name, tfds:<name>, or a path to your own file")
    test_file: str = option("", "optional separate test file (same format as dataset)")
    seed: int = option(42, "random seed for splits, initialisation and shuffling")
    epochs: int = option(10, "maximum training epochs (early stopping may end sooner)")
    batch_size: int = option(32, "batch size per replica (the global batch grows with GPUs)")
    learning_rate: float = option(1e-3, "Adam learning rate")
    clipnorm: float = option(1.0, "gradient clipping by global norm; 0 turns it off")
    patience: int = option(3, "early stopping: epochs without validation improvement")
    mixed_precision: bool = option(False, "mixed_float16 compute (GPU); output layer stays float32")
    validation_share: float = option(0.1, "share of the data held out for validation")
    test_share: float = option(0.1, "share of the data held out for test (no test_file)")
    run_name: str = option("", "name of the run folder (default: time, cell, config hash)")
    verbose: str = option("auto", "Keras progress output: auto, 0, 1 (bar) or 2 (line per epoch)")


def field_help(config_class) -> list[tuple[str, str, object, str]]:
    """(name, type name, default, help) for every field, in declaration order."""
    hints = typing.get_type_hints(config_class)
    rows = []
    for field in dataclasses.fields(config_class):
        rows.append((field.name, hints[field.name].__name__, field.default, field.metadata.get("help", "")))
    return rows


def _parse_value(name: str, text: str, kind: type):
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UserError(f"option {name}={text!r}: expected true or false")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise UserError(f"option {name}={text!r}: expected {kind.__name__}") from None
    return text


def apply_overrides(config, overrides: list[str]):
    """Return a copy of `config` with `key=value` strings applied, each checked."""
    hints = typing.get_type_hints(type(config))
    valid = [field.name for field in dataclasses.fields(config)]
    changes = {}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"option {item!r} is not key=value (valid keys: {', '.join(valid)})")
        name, text = item.split("=", 1)
        name = name.strip()
        if name not in hints:
            raise UserError(f"unknown option {name!r} for {type(config).__name__}; valid: {', '.join(valid)}")
        changes[name] = _parse_value(name, text, hints[name])
    updated = dataclasses.replace(config, **changes)
    validate = getattr(updated, "validate", None)
    if validate:
        validate()
    return updated


def save_config(config, path) -> None:
    """Write the resolved config as JSON (sorted keys, so runs diff cleanly)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dataclasses.asdict(config), handle, indent=2, sort_keys=True)


def load_config(config_class, path):
    """Read a config written by `save_config`, ignoring keys the class no longer has."""
    with open(path, encoding="utf-8") as handle:
        values = json.load(handle)
    names = {field.name for field in dataclasses.fields(config_class)}
    return config_class(**{key: value for key, value in values.items() if key in names})
