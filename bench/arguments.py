"""Parsing the benchmarks' own options (the rest are training options, `key=value`)."""

from common.errors import UserError


def whole_numbers(key: str, value: str) -> tuple[int, ...]:
    """`42,43` -> (42, 43); anything else is a one-line error naming the option."""
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise UserError(f"{key}={value!r}: give whole numbers separated by commas, e.g. {key}=42,43") from None
