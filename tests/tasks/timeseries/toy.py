"""A toy hourly series with a daily cycle, and configs that train it in seconds."""

import numpy as np

from common.config import apply_overrides
from tasks.timeseries.config import Config

TOY = ["epochs=2", "units=8", "batch_size=16", "window=12", "verbose=0", "season=24"]


def toy_csv(tmp_path, length=300, name="toy.csv", constant=False) -> str:
    """A noisy daily cycle of 24 steps with a temperature-like extra column."""
    steps = np.arange(length)
    rng = np.random.default_rng(0)
    load = 100 + 20 * np.sin(2 * np.pi * steps / 24) + rng.normal(0, 2, length)
    if constant:
        load = np.full(length, 5.0)
    temperature = 15 + 5 * np.cos(2 * np.pi * steps / 24)
    dates = np.datetime64("2021-01-01T00:00") + steps.astype("timedelta64[h]")
    lines = ["time,load,temp"] + [f"{d},{v:.3f},{t:.3f}" for d, v, t in zip(dates, load, temperature)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def config_for(path, *extra):
    options = [f"dataset={path}", "target=load", "time_column=time", *TOY, *extra]
    return apply_overrides(Config(), options)
