"""Shared pytest fixtures for the mpackfs integration tests.

mpack        path (str) of $MPACK_BUILD/mpack (MPACK_BUILD defaults to "build", relative to
             the repository root); fails the test if it has not been built.
mpackfs      the same for $MPACK_BUILD/mpackfs.
run_node     run_node(script, *args, check=True, timeout=300) runs `node script args...` with
             cwd=tests/ (so the oracle packages in tests/node_modules resolve) and returns the
             CompletedProcess (text mode); with check=True a non-zero exit fails the test and
             shows node's stderr.
short_tmp    a fresh directory under /tmp with a short path (mount points, sockets), removed
             afterwards. pytest's own tmp_path works for everything else.
disk_dir     a fresh directory (str) under /var/tmp, on disk, removed afterwards: for caches
             whose page-cache advice or passthrough backing files need a real file system
             (/tmp may be tmpfs, and a backing file must not sit on overlayfs).
"""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"


def build_dir():
    """The directory holding the binaries under test ($MPACK_BUILD, default build/)."""
    return (REPO / os.environ.get("MPACK_BUILD", "build")).resolve()


def _binary(name):
    path = build_dir() / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (run make, or set MPACK_BUILD)")
    return str(path)


@pytest.fixture(scope="session")
def mpack():
    return _binary("mpack")


@pytest.fixture(scope="session")
def mpackfs():
    return _binary("mpackfs")


def run_node(script, *args, check=True, timeout=300):
    """Run a node script (path relative to tests/) with cwd=tests/."""
    proc = subprocess.run(["node", str(script), *map(str, args)], cwd=TESTS,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"node {script} {' '.join(map(str, args))} exited {proc.returncode}:\n"
                    f"{proc.stderr}")
    return proc


@pytest.fixture(name="run_node", scope="session")
def run_node_fixture():
    return run_node


@pytest.fixture
def short_tmp():
    path = tempfile.mkdtemp(prefix="mpk.", dir="/tmp")
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def disk_dir():
    path = tempfile.mkdtemp(prefix="mpackfs-", dir="/var/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)
