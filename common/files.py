"""Writing files and folders atomically: a reader never sees half of one."""

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path


def write_text_atomically(path, text: str) -> Path:
    """Write `text` to a temporary sibling file, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(staging, 0o666 & ~current_umask())  # mkstemp makes it private; a plain file is not
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            if not text.endswith("\n"):
                handle.write("\n")
        os.replace(staging, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT) and not error.filename:
            raise OSError(error.errno, error.strerror, str(path)) from None  # name the file
        raise
    return path


def is_disk_full(error: BaseException) -> bool:
    """Whether an error (or one it came from) says the disk is full, in any library's
    words: OSError's errno, HDF5's "errno = 28", TensorFlow's "No space left on device"."""
    while error is not None:
        if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(error)
        if "errno = 28" in text or "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        error = error.__cause__ or error.__context__
    return False


def file_named_in(error: BaseException) -> str:
    """The file an error names (its filename, or HDF5's `name = '...'`), else ''."""
    if getattr(error, "filename", None):
        return str(error.filename)
    found = re.search(r"name = '([^']+)'", str(error))
    return found.group(1) if found else ""


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_directory(final_path: Path):
    """Yield a temporary sibling folder; rename it to `final_path` only on success.

    On an error the temporary folder is removed and nothing appears at `final_path`;
    an existing folder there is replaced only once the new one is complete.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in final_path.parent.glob(f".{final_path.name}.partial-*"):  # left by a killed process
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=final_path.parent, prefix=f".{final_path.name}.partial-"))
    os.chmod(staging, 0o777 & ~current_umask())
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


class LockHeld(Exception):
    """Another process holds the lock; `pid` is its process id (as it wrote it)."""

    def __init__(self, path: Path, pid: str):
        super().__init__(f"{path} is held by process {pid or '?'}")
        self.path, self.pid = path, pid


def acquire_lock(path, wait: bool = False):
    """An exclusive lock on the file `path` (fcntl.flock), held until the returned handle
    is closed or the process ends: the OS releases it when a process dies, so a crash
    never leaves a stale lock. Without `wait`, a lock held elsewhere raises `LockHeld`."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise LockHeld(path, holder) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


@contextlib.contextmanager
def file_lock(path, wait: bool = False):
    """`acquire_lock` for the length of a `with` block."""
    handle = acquire_lock(path, wait)
    try:
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def directory_lock(path):
    """An exclusive lock on a folder itself for the length of a `with` block (waits for
    it); unlike a lock file it leaves nothing behind in the folder."""
    import fcntl

    Path(path).mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's content, hex (read in blocks: a vectors file may be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def naming_the_file(path: Path):
    """Turn a full disk met inside TensorFlow, Keras or HDF5 (which report it in their
    own words) into OSError(ENOSPC) naming `path`, which the command line prints in one
    line."""
    try:
        yield
    except Exception as error:
        if not is_disk_full(error):
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
