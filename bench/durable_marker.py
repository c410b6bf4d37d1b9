#!/usr/bin/env python3
"""Costs of the ways to durably mark a stage started, on the filesystem of DIR (default: a
temp dir under /tmp), 300 times each:

  record   write a spare, fdatasync, exchange it with the record, fsync the directory
  slot     set one byte in a preallocated journal, fdatasync (what betterform does)
  append   append a line to a journal, fdatasync

usage: bench/durable_marker.py [DIR]
"""
import ctypes
import os
import shutil
import sys
import tempfile
import time

N = 300
RENAME_EXCHANGE = 2
AT_FDCWD = -100
libc = ctypes.CDLL("libc.so.6", use_errno=True)
d = tempfile.mkdtemp(dir=sys.argv[1] if len(sys.argv) > 1 else None)
data = b"x" * 565  # the size of a stage record


def record():
    for i in range(N):
        path, spare = f"{d}/s{i}.json", f"{d}/.s{i}.json.spare"
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.fdatasync(fd)
        os.close(fd)
        if libc.renameat2(AT_FDCWD, spare.encode(), AT_FDCWD, path.encode(), RENAME_EXCHANGE) != 0:
            os.rename(spare, path)
        dfd = os.open(d, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)


def slot():
    fd = os.open(f"{d}/journal", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"." * N)
    os.fsync(fd)
    for i in range(N):
        os.pwrite(fd, b"S", i)
        os.fdatasync(fd)
    os.close(fd)


def append():
    fd = os.open(f"{d}/journal-append", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for i in range(N):
        os.write(fd, f"start s{i}\n".encode())
        os.fdatasync(fd)
    os.close(fd)


for f in (record, slot, append, record, slot, append):
    start = time.perf_counter()
    f()
    print(f"{f.__name__:<7} {(time.perf_counter() - start) / N * 1000:.3f} ms per marker")
shutil.rmtree(d)
