"""Crash repair: what a resumed run checks before it reads anything it wrote earlier.

A run killed at any moment (or stopped by a full disk) leaves a history, an epoch backup
and best weights that may be cut short. `common.trainer.fit` repairs the history, keeps
the newest whole backup (`check_backup`) and checks the best weights
(`check_best_weights`) before training goes on; `EpochBackup` writes backups a resume
can check.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras

from common.failpoints import failpoint
from common.files import naming_the_file, sha256_of, write_text_atomically


def repair_history(history_path: Path) -> None:
    """Keep only the whole rows of a history cut short by a crash: a torn last line, an
    empty file or a torn header is dropped (atomically), with a line saying so."""
    if not history_path.exists():
        return
    lines = history_path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        history_path.unlink()
        print(f"{history_path.name}: empty or cut short by a crash; starting it again")
        return
    columns = lines[0].count(",")
    kept = [lines[0]] + [line for line in lines[1:] if is_whole_row(line, columns)]
    if len(kept) < len(lines):
        write_text_atomically(history_path, "".join(kept))
        print(f"{history_path.name}: dropped {len(lines) - len(kept)} line(s) cut short by a crash")


def is_whole_row(line: str, columns: int) -> bool:
    if not line.endswith("\n") or line.count(",") != columns:
        return False
    try:
        [float(value) for value in line.strip().split(",") if value]
    except ValueError:
        return False
    return True


BACKUP_FILES = ("training_metadata.json", "latest.weights.h5")  # the epoch record, the weights


class EpochBackup(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore (the previous backup kept beside the latest), written so
    that a resume can tell whether a backup is whole: the weights go to a staging file
    and are renamed into place, and the epoch record, written atomically, names the
    weights' SHA-256. A record and weights from different epochs (a crash between the
    two writes) or a file torn by a full disk then never pass `check_backup`."""

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)

    def _save_model(self):
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / "staging.weights.h5"  # Keras wants the .weights.h5 ending
        with naming_the_file(staging):
            self.model.save_weights(str(staging), overwrite=True)
        record = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights_sha256": sha256_of(staging)}
        # The previous pair is moved aside whole; `check_backup` pairs records with weights.
        for latest, previous in self.pairs()[::-1]:
            if latest.exists():
                os.replace(latest, previous)
        failpoint("backup")  # a crash between the two backups
        write_text_atomically(folder / BACKUP_FILES[0], json.dumps(record))
        os.replace(staging, folder / BACKUP_FILES[1])

    def pairs(self) -> list[tuple[Path, Path]]:
        """(latest, previous) for the epoch record and for the weights."""
        return [
            (Path(self._training_metadata_path), Path(self._prev_training_metadata_path)),
            (Path(self._weights_path), Path(self._prev_weights_path)),
        ]


def check_backup(backup_dir: Path) -> bool:
    """Make the epoch backup usable before `fit` reads it: the newest whole pair of an
    epoch record and the weights it names (each loaded, not just found) becomes the
    latest backup. A backup cut short by a crash or a full disk falls back to the one
    before it; with no whole pair the folder is removed and the run starts again from
    its first epoch. Says which in a line; returns False when the run starts again."""
    backup_dir = Path(backup_dir)
    if not backup_dir.exists() or not any(backup_dir.iterdir()):
        return True  # nothing backed up yet
    records = [backup_dir / BACKUP_FILES[0], backup_dir / f"{BACKUP_FILES[0]}.bkp"]
    weights = [backup_dir / BACKUP_FILES[1], backup_dir / f"{BACKUP_FILES[1]}.bkp"]
    whole = [(read_record(record), record, file) for record in records for file in weights if pairs_with(record, file)]
    if not whole:
        shutil.rmtree(backup_dir)
        print(
            f"the epoch backup in {backup_dir} is unreadable (cut short by a crash or a full disk); "
            "training this run again from its first epoch"
        )
        return False
    epoch, record, file = max(whole, key=lambda found: found[0]["epoch"])
    if (record, file) != (records[0], weights[0]):
        print(f"the last epoch backup in {backup_dir} was cut short; resuming from the one of epoch {epoch['epoch']}")
        for source, target in ((record, records[0]), (file, weights[0])):
            if source != target:
                shutil.copyfile(source, target)
    return True


def pairs_with(record: Path, weights: Path) -> bool:
    """Whether an epoch record is whole and names exactly these weights, which load."""
    saved = read_record(record)
    return (
        saved is not None
        and weights.is_file()
        and saved.get("weights_sha256") == sha256_of(weights)
        and readable_weights(weights)
    )


def read_record(path: Path) -> dict | None:
    """A backup's epoch record, or None where it is missing, torn or not one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("epoch"), int) else None


# Reads every array of a weights file, in a child process: a file torn by a full disk can
# crash HDF5 outright (a segfault), which must cost a check, not the run.
READ_EVERY_ARRAY = """
import sys, h5py
def read(name, item):
    if isinstance(item, h5py.Dataset):
        item[()]
with h5py.File(sys.argv[1], "r") as weights:
    weights.visititems(read)
"""


def readable_weights(path: Path) -> bool:
    """Whether a `.weights.h5` file loads: it opens and every array in it reads."""
    if not Path(path).is_file():
        return False
    try:
        check = subprocess.run([sys.executable, "-c", READ_EVERY_ARRAY, str(path)], capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0


def check_best_weights(best_path: Path, history_path: Path, monitor: str) -> bool:
    """Whether the best epoch's weights a resume will end with are whole. The history
    names epochs whose best weights were written; if those weights are torn or gone
    (a full disk, a damaged copy) nothing earlier holds them, so the run starts again
    from its first epoch (with op determinism it retrains to the same weights)."""
    if not history_path.exists():
        return True
    history = read_history(history_path)
    if monitor not in history or not len(history) or readable_weights(best_path):
        return True
    print(f"{best_path} is unreadable or missing; training this run again from its first epoch")
    return False


def read_history(history_path: Path):
    """The run's history as a DataFrame, one row per epoch (a rerun epoch keeps its last row)."""
    import pandas

    history = pandas.read_csv(history_path)
    return history.drop_duplicates(subset="epoch", keep="last").reset_index(drop=True)
