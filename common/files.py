"""Writing files and folders atomically: a reader never sees half of one."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def write_text_atomically(path, text: str) -> Path:
    """Write `text` to a temporary sibling file, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            if not text.endswith("\n"):
                handle.write("\n")
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        raise
    return path


@contextlib.contextmanager
def atomic_directory(final_path: Path):
    """Yield a temporary sibling folder; rename it to `final_path` only on success.

    On an error the temporary folder is removed and nothing appears at `final_path`;
    an existing folder there is replaced only once the new one is complete.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=final_path.parent, prefix=f".{final_path.name}.partial-"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final_path.exists():
        retired = final_path.with_name(f".{final_path.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(final_path, retired)
        os.replace(staging, final_path)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, final_path)
