import errno
import os
import stat

import pytest

from common.files import atomic_directory, naming_the_file, write_text_atomically


def test_atomic_directory_appears_only_when_complete(tmp_path):
    target = tmp_path / "export"
    with atomic_directory(target) as staging:
        (staging / "model.txt").write_text("new")
        assert not target.exists()
    assert (target / "model.txt").read_text() == "new"
    assert [path.name for path in tmp_path.iterdir()] == ["export"]


def test_failure_leaves_the_old_folder_and_no_partial_one(tmp_path):
    target = tmp_path / "export"
    target.mkdir()
    (target / "model.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "model.txt").write_text("half")
            raise RuntimeError("disk full")
    assert (target / "model.txt").read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["export"]


def test_a_partial_folder_left_by_a_killed_process_is_cleared(tmp_path):
    (tmp_path / ".export.partial-abc123").mkdir()
    with atomic_directory(tmp_path / "export") as staging:
        (staging / "model.txt").write_text("new")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export"]


def test_atomic_files_and_folders_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomically(tmp_path / "config.json", "{}")
        with atomic_directory(tmp_path / "export"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "export").stat().st_mode) == 0o755


def test_a_full_disk_inside_keras_or_hdf5_is_named_by_its_file(tmp_path):
    with pytest.raises(OSError) as raised:
        with naming_the_file(tmp_path / "best.weights.h5"):
            raise RuntimeError("Can't decrement id ref count (file write failed: errno = 28, error message = ...)")
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "best.weights.h5")
    with pytest.raises(ValueError):
        with naming_the_file(tmp_path / "x"):
            raise ValueError("something else")
