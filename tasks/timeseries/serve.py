"""Forecaster export: raw windows in original units in, forecasts out; the series' own
last window travels inside the export, so `latest` forecasts what comes after the data."""

import numpy as np
import tensorflow as tf

from common.errors import UserError
from common.task import Signature
from tasks.timeseries.data import Assets


def signatures(model, config, assets: Assets):
    """`serving_default`: `window` (float32 [batch, window, columns], original units) ->
    `forecast` (float32 [batch, horizon], original units); scaling lives in the graph.
    `latest` (no inputs): the series' last `window`, its `forecast`, the `times` it
    forecasts (strings; "end+k" where the series has no regular timestamps) and the
    `target` column's name."""
    mean = tf.constant(assets.normalizer["mean"], dtype=tf.float32)
    scale = tf.constant(assets.normalizer["scale"], dtype=tf.float32)
    last_window = tf.constant(assets.last_window, dtype=tf.float32)
    times = assets.next_times or [f"end+{step + 1}" for step in range(assets.horizon)]
    next_times = tf.constant(times)
    target = tf.constant(assets.columns[0])

    def forecast(windows):
        normalized = (windows - mean) / scale
        predicted = tf.cast(model(normalized, training=False), tf.float32)
        return {"forecast": predicted * scale[0] + mean[0]}

    def latest():
        predicted = forecast(last_window[tf.newaxis])["forecast"][0]
        return {"window": last_window, "forecast": predicted, "times": next_times, "target": target}

    spec = [tf.TensorSpec([None, assets.window, len(assets.columns)], tf.float32, name="window")]
    return {"serving_default": Signature(forecast, spec), "latest": Signature(latest, [])}, [model]


def parse_window(text: str, window: int, columns: int) -> np.ndarray:
    """One window from text: values separated by commas (one column), or rows separated
    by ';' with the columns of a row separated by commas."""
    rows = [row for row in text.replace("\n", ";").split(";") if row.strip()]
    if columns == 1 and len(rows) == 1:
        rows = rows[0].split(",")
    try:
        values = np.array([[float(cell) for cell in row.split(",")] for row in rows], dtype=np.float32)
    except ValueError:
        raise UserError(f"window {text[:60]!r}: every value must be a number") from None
    if values.shape != (window, columns):
        raise UserError(f"a window needs {window} rows of {columns} value(s); got {len(rows)} row(s) in {text[:60]!r}")
    return values


def predict(export, inputs: list[str]) -> list[dict]:
    """Forecasts for the given windows; with no inputs, the next horizon after the end of
    the whole series (the export's `latest` signature)."""
    if not inputs:
        outputs = export.signatures["latest"]()
        times = [time.decode("utf-8") for time in outputs["times"].numpy()]
        target = outputs["target"].numpy().decode("utf-8")
        return [
            {"step": step + 1, "time": time, target: round(float(value), 4)}
            for step, (time, value) in enumerate(zip(times, outputs["forecast"].numpy()))
        ]
    serving = export.signatures["serving_default"]
    _, window, columns = serving.structured_input_signature[1]["window"].shape
    batch = np.stack([parse_window(text, window, columns) for text in inputs])
    forecasts = serving(window=tf.constant(batch))["forecast"].numpy()
    return [
        {"input": number, "forecast": [round(float(value), 4) for value in forecast]}
        for number, forecast in enumerate(forecasts, start=1)
    ]
