import pytest

from common.files import atomic_directory


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
