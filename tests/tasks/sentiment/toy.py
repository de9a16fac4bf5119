"""Toy reviews whose class shows in their words, so a tiny model can learn them."""

import io
import tarfile

# The rows and the CSV writer live with the benchmark that also needs them (bench must not
# import tests); the tests keep importing them from here.
from bench.toy_reviews import BAD, GOOD, review_rows, write_csv  # noqa: F401

TINY = ["epochs=2", "units=8", "embedding_dim=8", "batch_size=16", "verbose=0", "patience=5"]


def add_file(bundle, name, content):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    bundle.addfile(info, io.BytesIO(content))
