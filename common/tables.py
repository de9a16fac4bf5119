"""Reading the user's own tabular files (CSV, TSV, JSONL) with one-line errors."""

import io
import json
from pathlib import Path

import pandas

from common.errors import UserError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def read_text_file(path) -> str:
    """The file's text; a missing, empty or non-UTF-8 file is a `UserError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"{path}: the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(
            f"{path}, line {line}: bytes that are not UTF-8 ({error.reason}); save the file as UTF-8"
        ) from None


def read_table(path) -> pandas.DataFrame:
    """Rows of a CSV, TSV or JSONL file as strings, by the file's extension."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(sorted(FORMATS))}")
    text = read_text_file(path)
    if kind == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}, line {number}: expected a JSON object per line")
            rows.append(row)
        table = pandas.DataFrame(rows)
    else:
        try:
            table = pandas.read_csv(
                io.StringIO(text), sep="," if kind == "csv" else "\t", dtype=str, keep_default_na=False
            )
        except pandas.errors.ParserError as error:
            raise UserError(f"{path}: cannot parse as {kind.upper()}: {str(error).strip()}") from None
    if table.empty:
        raise UserError(f"{path}: no data rows")
    return table


def require_columns(table: pandas.DataFrame, path, columns: dict[str, str]) -> None:
    """Check that each column exists; `columns` maps option name -> column name."""
    for option_name, column in columns.items():
        if column not in table.columns:
            found = ", ".join(map(str, table.columns))
            raise UserError(f"{path}: no column {column!r} (columns: {found}); set {option_name}=<column>")


def line_of_row(path, row_index: int) -> int:
    """The file line of a data row: JSONL rows are lines; CSV/TSV have a header line."""
    return row_index + (1 if Path(path).suffix.lower() in (".jsonl", ".ndjson") else 2)
