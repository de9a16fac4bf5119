"""Caps on what one request may ask of an export, declared once per signature.

A signature's limits are written into the export's `task.json`, checked by the server
before TensorFlow sees a request (`check`), and asserted again inside the exported graph
(`guarded`), so an export stays safe under any server, TF Serving included:

    {"rows": 64,                  # rows (the leading axis) of every batched input
     "chars": 2000,               # characters in any one string input
     "settings": {"beam_width": {"min": 0, "max": 64},
                  "top_p": {"above": 0, "max": 1}},      # bounds of scalar inputs
     "work": {"at_most": 1048576, "of": ["rows", "beam_width", "max_length"],
              "zero_counts_as": {"beam_width": 1}}}      # rows x beam x length

Every float input must also be finite (NaN and infinities are refused).
"""

import numpy as np
import tensorflow as tf

DEFAULT_ROWS = 256
DEFAULT_CHARS = 10_000


def with_defaults(limits: dict | None) -> dict:
    """`limits` with the rows and characters caps every signature has."""
    return {"rows": DEFAULT_ROWS, "chars": DEFAULT_CHARS, **(limits or {})}


def describe_range(bound: dict) -> str:
    """A setting's bounds as an interval: "[0, 64]", "(0, 1]"."""
    low = f"({bound['above']}" if "above" in bound else f"[{bound.get('min', '-inf')}"
    return f"{low}, {bound.get('max', 'inf')}]"


def in_range(value: float, bound: dict) -> bool:
    """Whether a finite `value` lies within a setting's bounds."""
    if "min" in bound and not value >= bound["min"]:
        return False
    if "above" in bound and not value > bound["above"]:
        return False
    return not ("max" in bound and not value <= bound["max"])


def work(values: dict, rows: int, rule: dict) -> int:
    """Rows x the named settings (a setting at 0 counts as `zero_counts_as` says)."""
    total = 1
    for name in rule["of"]:
        value = rows if name == "rows" else int(values[name])
        total *= rule.get("zero_counts_as", {}).get(name, 0) if value == 0 else max(value, 1)
    return total


def problems(values: dict, rows: int, limits: dict):
    """Every limit that checked inputs (NumPy arrays by name) break, as one-line messages
    naming the input; the first is what the server answers."""
    limits = with_defaults(limits)
    if rows > limits["rows"]:
        yield f"{rows} rows in one request; at most {limits['rows']}"
    for name, value in values.items():
        if value.dtype == object:
            longest = max((len(item) for item in value.reshape(-1)), default=0)
            if longest > limits["chars"]:
                yield f"input {name!r}: a string of {longest} characters; at most {limits['chars']}"
        elif value.dtype.kind == "f" and not np.isfinite(value).all():
            yield f"input {name!r}: NaN and infinities are not allowed"
    for name, bound in limits.get("settings", {}).items():
        if name in values and not in_range(float(values[name]), bound):
            yield f"{name}={values[name].item()!r}: must be in {describe_range(bound)}"
    rule = limits.get("work")
    if rule and all(name == "rows" or name in values for name in rule["of"]):
        total = work(values, rows, rule)
        if total > rule["at_most"]:
            product = " x ".join(rule["of"])
            yield f"{product} = {total}; at most {rule['at_most']} per request"


def check(values: dict, rows: int, limits: dict) -> str | None:
    """The first broken limit's message, or None when the request is within its limits."""
    return next(iter(problems(values, rows, limits)), None)


# ---------------------------------------------------------------- in the graph


def graph_checks(inputs: dict, limits: dict) -> list:
    """`tf.debugging.Assert` ops for every limit on symbolic `inputs` (name -> tensor)."""
    limits = with_defaults(limits)
    checks = []
    for name, tensor in inputs.items():
        if tensor.shape.rank:
            rows = tf.shape(tensor)[0]
            checks.append(tf.debugging.Assert(rows <= limits["rows"], [f"rows: at most {limits['rows']}, got", rows]))
        if tensor.dtype == tf.string:
            longest = tf.reduce_max(tf.strings.length(tensor, unit="UTF8_CHAR"))  # empty: the lowest int
            message = f"input {name}: at most {limits['chars']} characters, got"
            checks.append(tf.debugging.Assert(longest <= limits["chars"], [message, longest]))
        elif tensor.dtype.is_floating:
            message = f"input {name}: NaN and infinities are not allowed"
            checks.append(tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(tensor)), [message]))
    for name, bound in limits.get("settings", {}).items():
        if name in inputs:
            checks.append(range_check(name, inputs[name], bound))
    rule = limits.get("work")
    if rule:
        checks.append(work_check(inputs, rule))
    return checks


def range_check(name: str, value, bound: dict):
    """Assert a scalar's bounds (NaN fails every comparison, so it is refused too)."""
    value = tf.cast(value, tf.float64)
    valid = tf.constant(True)
    if "min" in bound:
        valid &= value >= bound["min"]
    if "above" in bound:
        valid &= value > bound["above"]
    if "max" in bound:
        valid &= value <= bound["max"]
    return tf.debugging.Assert(valid, [f"{name} must be in {describe_range(bound)}, got", value])


def work_check(inputs: dict, rule: dict):
    """Assert rows x settings <= at_most (in int64, so no product overflows int32)."""
    batched = [tensor for tensor in inputs.values() if tensor.shape.rank]
    total = tf.constant(1, tf.int64)
    for name in rule["of"]:
        if name == "rows":
            value = tf.cast(tf.shape(batched[0])[0], tf.int64) if batched else tf.constant(1, tf.int64)
        else:
            value = tf.cast(inputs[name], tf.int64)
        zero = tf.constant(rule.get("zero_counts_as", {}).get(name, 0), tf.int64)
        value = tf.where(value == 0, zero, tf.maximum(value, 1))
        total *= tf.minimum(value, 1 << 31)  # each factor fits 31 bits: the product fits int64
    message = f"{' x '.join(rule['of'])}: at most {rule['at_most']} per request, got"
    return tf.debugging.Assert(total <= rule["at_most"], [message, total])


def guarded(function, input_signature: list, limits: dict):
    """`function` with every limit asserted on its inputs before it runs."""
    names = [spec.name for spec in input_signature]

    def checked(*arguments):
        with tf.control_dependencies(graph_checks(dict(zip(names, arguments)), limits)):
            arguments = [tf.identity(argument) for argument in arguments]
        return function(*arguments)

    checked.__name__ = getattr(function, "__name__", "signature")
    return checked
