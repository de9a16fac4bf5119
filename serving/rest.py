"""TensorFlow Serving's REST formats: model status, metadata, and predict requests in
the row (`instances`) and columnar (`inputs`) formats, answered as `predictions` or
`outputs` (https://www.tensorflow.org/tfx/serving/api_rest).

Everything a client sends is checked here, before TensorFlow sees it, and every problem
is a `BadRequest` with a one-line message.
"""

import functools
import json
import re

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from common import limits
from serving.models import LoadedVersion, NotFound, SignatureInfo

MAX_DEPTH = 32  # nesting of arrays and objects in a request body
MAX_DIGITS = 40  # digits of one integer in a request body
STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class BadRequest(ValueError):
    """A request that cannot be served as sent (HTTP 400)."""


# ---------------------------------------------------------------- request bodies


class HugeInteger(int):
    """An integer with more than MAX_DIGITS digits, kept as a marker (its digit count) so
    that the input holding it is named in the error."""


def parse_integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        return HugeInteger(len(digits.lstrip("-")))
    return int(digits)


def parse_json(body: bytes):
    """A request body as JSON: at most MAX_DEPTH deep, valid UTF-8; NaN and Infinity are
    read (as TF Serving does) and refused later by the input they are given to."""
    # No deeper than it has brackets: counting them is cheap, so only a body with over
    # MAX_DEPTH of them is scanned (the scan cost more than the rest of a request).
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        depth = nesting_depth(body)
        if depth > MAX_DEPTH:
            raise BadRequest(f"the body is nested {depth} deep; at most {MAX_DEPTH}")
    try:
        return json.loads(body.decode("utf-8"), parse_int=parse_integer)
    except (UnicodeDecodeError, ValueError) as problem:
        raise BadRequest(f"the body is not valid JSON ({problem})") from None


def nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest, counted outside strings (before parsing, so a
    100,000-deep body never reaches the recursive parser)."""
    outside = np.frombuffer(STRING.sub(b'""', body), dtype=np.uint8)
    steps = np.isin(outside, (ord("["), ord("{"))).astype(np.int64) - np.isin(outside, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


# ---------------------------------------------------------------- status and metadata


def model_status(versions: list[LoadedVersion], failed: dict[int, str]) -> dict:
    """GetModelStatusResponse as JSON: every version's state."""
    statuses = [
        {"version": str(loaded.version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        for loaded in sorted(versions, key=lambda loaded: -loaded.version)
    ]
    statuses += [
        {"version": str(number), "state": "END", "status": {"error_code": "UNKNOWN", "error_message": message}}
        for number, message in sorted(failed.items(), reverse=True)
    ]
    return {"model_version_status": statuses}


def tensor_info(name: str, spec) -> dict:
    """TensorInfo as TF Serving writes it (dtype DT_*, sizes as strings, -1 unknown)."""
    if spec.shape.rank is None:
        shape = {"dim": [], "unknown_rank": True}
    else:
        dims = [{"size": str(-1 if size is None else size), "name": ""} for size in spec.shape.as_list()]
        shape = {"dim": dims, "unknown_rank": False}
    return {"dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum), "tensor_shape": shape, "name": name}


def model_metadata(loaded: LoadedVersion) -> dict:
    """GetModelMetadataResponse as JSON: the signature defs (and our task.json)."""
    definitions = {
        name: {
            "inputs": {key: tensor_info(key, spec) for key, spec in info.inputs.items()},
            "outputs": {key: tensor_info(key, spec) for key, spec in info.outputs.items()},
            "method_name": "tensorflow/serving/predict",
        }
        for name, info in loaded.signatures.items()
    }
    return {
        "model_spec": {"name": loaded.model, "signature_name": "", "version": str(loaded.version)},
        "metadata": {"signature_def": {"signature_def": definitions}, "task": loaded.description},
    }


# ---------------------------------------------------------------- predict requests


def pick_signature(loaded: LoadedVersion, body: dict) -> tuple[str, SignatureInfo]:
    name = body.get("signature_name", "serving_default")
    if not isinstance(name, str):
        raise BadRequest("'signature_name' must be a string")
    if name not in loaded.signatures:
        raise NotFound(
            f"model {loaded.model!r} version {loaded.version} has no signature {name!r}; "
            f"it has: {', '.join(sorted(loaded.signatures))}"
        )
    return name, loaded.signatures[name]


def parse_predict(body, signature: SignatureInfo, max_rows: int, max_string_length: int) -> tuple[dict, str, int]:
    """(inputs as NumPy arrays by name, "row" or "columnar", rows) from a predict body."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = set(body) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}; use 'instances' or 'inputs'")
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest("give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    names = list(signature.inputs)
    if "instances" in body:
        values = rows_to_columns(body["instances"], names)
        form = "row"
    else:
        values = columns(body["inputs"], names)
        form = "columnar"
    arrays = {name: to_array(name, values[name], signature.inputs[name], max_string_length) for name in names}
    rows = batch_rows(arrays, signature)
    if rows > max_rows:
        raise BadRequest(f"{rows} rows in one request; at most {max_rows}")
    problem = limits.check(arrays, rows, signature.limits)
    if problem:
        raise BadRequest(problem)
    return arrays, form, rows


def rows_to_columns(instances, names: list[str]) -> dict:
    if not isinstance(instances, list) or not instances:
        raise BadRequest("'instances' must be a non-empty list")
    if not names:
        raise BadRequest("this signature takes no inputs; send {\"inputs\": {}} instead of 'instances'")
    if len(names) == 1 and not all(isinstance(row, dict) for row in instances):
        return {names[0]: instances}
    for number, row in enumerate(instances):
        if not isinstance(row, dict) or set(row) != set(names):
            raise BadRequest(f"instance {number}: expected an object with exactly the inputs {', '.join(names)}")
    return {name: [row[name] for row in instances] for name in names}


def columns(inputs, names: list[str]) -> dict:
    if len(names) == 1 and not (isinstance(inputs, dict) and set(inputs) == set(names)):
        return {names[0]: inputs}
    if not isinstance(inputs, dict) or set(inputs) != set(names):
        got = ", ".join(sorted(inputs)) if isinstance(inputs, dict) else type(inputs).__name__
        raise BadRequest(f"'inputs' must name exactly {', '.join(names) or 'nothing'}; got {got or 'nothing'}")
    return inputs


def to_array(name: str, value, spec, max_string_length: int) -> np.ndarray:
    """A checked NumPy array for one input, typed as TF Serving types JSON: strings only
    for string inputs, integers (not floats, not booleans) for integer inputs, numbers
    (not booleans) for float inputs; every value within its dtype's range."""
    try:
        leaves = np.array(value, dtype=object)
    except ValueError:
        raise BadRequest(f"input {name!r}: ragged lists; every row needs the same shape") from None
    if is_ragged(value) or any(isinstance(item, list) for item in leaves.reshape(-1)):
        raise BadRequest(f"input {name!r}: ragged lists; every row needs the same shape")
    wanted = shape_of(spec)
    if wanted is not None and not fits(leaves.shape, wanted):
        shape = ", ".join("?" if size is None else str(size) for size in wanted)
        raise BadRequest(f"input {name!r}: shape {list(leaves.shape)} does not fit [{shape}]")
    if wanted and leaves.shape[0] == 0:
        raise BadRequest(f"input {name!r}: no rows")
    if spec.dtype == tf.string:
        return checked_strings(name, leaves, max_string_length)
    return checked_numbers(name, leaves, spec.dtype)


@functools.cache
def shape_of(spec) -> tuple | None:
    """A spec's shape as a tuple (None for unknown sizes), or None for an unknown rank;
    cached, as TensorFlow's shape objects are slow next to the rest of a request."""
    return None if spec.shape.rank is None else tuple(spec.shape.as_list())


def fits(shape: tuple, wanted: tuple) -> bool:
    """Whether an array's shape fits a spec's (same rank, every known size equal)."""
    return len(shape) == len(wanted) and all(size is None or size == got for got, size in zip(shape, wanted))


def checked_strings(name: str, leaves: np.ndarray, max_string_length: int) -> np.ndarray:
    for item in leaves.reshape(-1):
        if not isinstance(item, str):
            raise BadRequest(f"input {name!r}: expected strings, got {json_type(item)}")
        if len(item) > max_string_length:
            raise BadRequest(f"input {name!r}: a string of {len(item)} characters; at most {max_string_length}")
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"input {name!r}: not valid Unicode (a lone surrogate?)") from None
    return leaves


def checked_numbers(name: str, leaves: np.ndarray, dtype) -> np.ndarray:
    integer = dtype.is_integer
    wanted = (int,) if integer else (int, float)
    for item in leaves.reshape(-1):
        if isinstance(item, HugeInteger):
            raise BadRequest(f"input {name!r}: a number of {int(item)} digits is out of range for {dtype.name}")
        if isinstance(item, bool) or not isinstance(item, wanted):
            kind = "integers" if integer else "numbers"
            raise BadRequest(f"input {name!r}: expected {kind} ({dtype.name}), got {json_type(item)}")
    numbers = leaves.astype(np.float64 if not integer else object)
    if integer:
        info = np.iinfo(dtype.as_numpy_dtype)
        if leaves.size and not info.min <= min(leaves.reshape(-1)) <= max(leaves.reshape(-1)) <= info.max:
            raise BadRequest(f"input {name!r}: out of range for {dtype.name} [{info.min}, {info.max}]")
        return numbers.astype(dtype.as_numpy_dtype)
    if not np.isfinite(numbers).all():
        raise BadRequest(f"input {name!r}: NaN and infinities are not allowed")
    largest = np.finfo(dtype.as_numpy_dtype).max
    if numbers.size and np.abs(numbers).max() > largest:
        raise BadRequest(f"input {name!r}: a value beyond {dtype.name}'s range (|x| <= {largest:.3g})")
    return numbers.astype(dtype.as_numpy_dtype)


def json_type(item) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    names = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", type(None): "null"}
    names |= {dict: "an object", HugeInteger: "an integer of too many digits"}
    return names.get(type(item), type(item).__name__)


def is_ragged(value) -> bool:
    """Whether nested lists have rows of different lengths at some depth."""
    if not isinstance(value, list) or not value:
        return False
    if any(isinstance(item, list) for item in value):
        if not all(isinstance(item, list) for item in value) or len({len(item) for item in value}) > 1:
            return True
        return any(is_ragged(item) for item in value)
    return False


def batch_rows(arrays: dict, signature: SignatureInfo) -> int:
    """The common leading size of batched inputs (1 for a signature without a batch axis)."""
    sizes = {array.shape[0] for name, array in arrays.items() if shape_of(signature.inputs[name])[:1] == (None,)}
    if len(sizes) > 1:
        raise BadRequest(f"inputs disagree on the number of rows: {sorted(sizes)}")
    return sizes.pop() if sizes else 1


# ---------------------------------------------------------------- answers

ASSERTION = re.compile(r"assertion failed: \[(.*?)\] \[(.*?)\]")


def graph_error(message: str) -> str:
    """The one line a graph's refusal means: its assertion's message and value when it has
    one (a limit the export checks itself), else the first line of the error."""
    found = ASSERTION.search(message)
    if found:
        return f"{found[1]} {found[2]}"
    lines = [line.strip() for line in message.splitlines() if line.strip() and "Graph execution error" not in line]
    return lines[0] if lines else "the model refused the input"


def to_json(value: np.ndarray):
    """Nested lists with strings decoded (UTF-8) and floats as Python floats."""
    value = np.asarray(value)  # a scalar string output arrives as bytes
    if value.dtype == object or value.dtype.kind == "S":
        return decoded(value.astype(object).tolist())
    return value.tolist()


def decoded(value):
    """Nested lists of bytes as nested lists of str (UTF-8, bad bytes replaced)."""
    if isinstance(value, list):
        return [decoded(item) for item in value]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def format_answer(outputs: dict, form: str, rows: int) -> dict:
    """`predictions` (row format: one entry per row) or `outputs` (columnar); a non-finite
    output (which JSON cannot carry) is a `BadRequest`."""
    for name, value in outputs.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise BadRequest(f"output {name!r} is not finite for these inputs (far outside the training data?)")
    if form == "columnar":
        values = {name: to_json(value) for name, value in outputs.items()}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != rows:
            raise BadRequest(f"output {name!r} has no row per instance; use the columnar format ('inputs')")
    values = {name: to_json(value) for name, value in outputs.items()}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{name: values[name][row] for name in values} for row in range(rows)]}
