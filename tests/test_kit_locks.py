"""FileLock and RoleLock with real threads and real processes on one lock file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from service.kit.locks import FileLock, RoleLock

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except OSError:
    print("busy")
"""

HOLD = """
import sys
from pathlib import Path
from service.kit.locks import {cls}

lock = {cls}(Path(sys.argv[1]))
{take}
print("held", flush=True)
sys.stdin.readline()
"""


def probe(path) -> str:
    """Whether another process could take ``path``'s lock now: ``"free"`` or ``"busy"``."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def holder(cls: str, take: str, path) -> subprocess.Popen:
    """A process that takes ``path``'s lock and holds it until a line arrives on its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(cls=cls, take=take), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_file_lock_is_held_against_other_processes_and_released_on_exit_even_after_an_error(tmp_path):
    path = tmp_path / "locks" / "rules.lock"  # its directory is created on first use
    lock = FileLock(path)
    with lock:
        assert probe(path) == "busy"
        with lock:  # re-entrant within a thread
            assert probe(path) == "busy"
        assert probe(path) == "busy"  # the outer hold goes on
    assert probe(path) == "free"
    with pytest.raises(RuntimeError), lock:
        raise RuntimeError("the rule's action failed")
    assert probe(path) == "free"


def test_file_lock_makes_another_thread_wait_until_it_is_released(tmp_path):
    lock = FileLock(tmp_path / "rules.lock")
    entered = threading.Event()

    def other():
        with lock:
            entered.set()

    with lock:
        t = threading.Thread(target=other, daemon=True)
        t.start()
        assert not entered.wait(0.5)
    assert entered.wait(10)
    t.join(10)


def test_file_lock_makes_this_process_wait_for_another_process_that_holds_it(tmp_path):
    path = tmp_path / "rules.lock"
    proc = holder("FileLock", "lock.__enter__()", path)
    entered = threading.Event()

    def take():
        with FileLock(path):
            entered.set()

    try:
        t = threading.Thread(target=take, daemon=True)
        t.start()
        assert not entered.wait(0.5)  # blocked on the other process's flock
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert entered.wait(10)
        t.join(10)
    finally:
        proc.kill()
        proc.wait(10)


def test_role_lock_has_one_holder_and_passes_on_when_released(tmp_path):
    path = tmp_path / "runner.lock"
    a, b = RoleLock(path), RoleLock(path)  # two holders in one process exclude each other as processes do
    assert a.try_acquire() and a.held
    assert not b.try_acquire() and not b.held
    assert a.try_acquire()  # asking again while holding keeps it
    assert path.read_text() == f"{os.getpid()}\n"
    assert probe(path) == "busy"
    a.release()
    assert not a.held
    assert b.try_acquire() and b.held
    b.release()
    b.release()  # releasing twice is harmless
    assert probe(path) == "free"


def test_role_lock_of_a_killed_holder_can_be_taken_over(tmp_path):
    path = tmp_path / "runner.lock"
    proc = holder("RoleLock", "assert lock.try_acquire()", path)
    standby = RoleLock(path)
    try:
        assert path.read_text() == f"{proc.pid}\n"
        assert not standby.try_acquire()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert standby.try_acquire()  # the kernel released the dead holder's lock
        assert path.read_text() == f"{os.getpid()}\n"
    finally:
        standby.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
