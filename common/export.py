"""Writing artifacts atomically, and SavedModels that serve raw inputs."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import keras


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


def write_saved_model(path: Path, serve_fn, input_signature, trackables) -> Path:
    """Write a SavedModel whose `serving_default` signature runs `serve_fn`.

    `serve_fn` maps the raw inputs described by `input_signature` to a dict of named
    outputs; `trackables` are the layers and models whose variables and lookup tables
    it uses. Written to a temporary folder and renamed when complete.
    """
    archive = keras.export.ExportArchive()
    for item in trackables:
        archive.track(item)
    archive.add_endpoint(name="serving_default", fn=serve_fn, input_signature=input_signature)
    with atomic_directory(path) as staging:
        archive.write_out(str(staging), verbose=False)
    return Path(path)
