"""Failpoints: named places where a test may have the process killed, to prove that a
run survives a crash at exactly that place (see tests/common/test_faults.py).

    RNN_SUITE_KILL_AT=export            # SIGKILL on reaching `failpoint("export")`
    RNN_SUITE_KILL_AT=batch:7           # ... on the 7th time `failpoint("batch")` is reached
    RNN_SUITE_KILL_AT=disk_full@export  # raise OSError(ENOSPC) there instead: a full disk
    RNN_SUITE_KILL_AT=sleep20@before_fit  # pause 20 s there (a slow run, for races)
    RNN_SUITE_KILL_AT=hold@before_fit     # pause there until the file $RNN_SUITE_RELEASE exists

Unset (always, outside those tests), `failpoint` costs one dictionary lookup.
"""

import collections
import errno
import os
import signal
import time

VARIABLE = "RNN_SUITE_KILL_AT"
RELEASE = "RNN_SUITE_RELEASE"
_reached = collections.Counter()


def failpoint(name: str) -> None:
    """SIGKILL this process (or fail as a full disk) if `RNN_SUITE_KILL_AT` names this
    place (and count)."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    how, _, place = wanted.rpartition("@")
    point, _, count = place.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] < int(count or 1):
        return
    if how == "disk_full":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
    if how == "hold":  # a test decides when to go on, so no race depends on the machine's speed
        while not os.path.exists(os.environ[RELEASE]):
            time.sleep(0.1)
        return
    if how.startswith("sleep"):
        time.sleep(float(how.removeprefix("sleep")))
        return
    os.kill(os.getpid(), signal.SIGKILL)
