"""Shared fixtures for the integration tests.

The tests drive the real `certgate` binary: CERTGATE_BIN names it (scripts/check.sh sets it
for the release and the sanitizer builds); by default build/src/cli/certgate is used.
Run with Debian's interpreter: /usr/bin/python3 -m pytest tests/integration
"""
import os
import pathlib
import subprocess

import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


def certgate_path():
    return os.environ.get("CERTGATE_BIN", str(ROOT / "build" / "src" / "cli" / "certgate"))


@pytest.fixture(scope="session")
def certgate_bin():
    path = certgate_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"certgate binary not found at {path}: build it first (scripts/build.sh)")
    return path


class Runner:
    """Runs `certgate <args>` and returns the CompletedProcess (text mode)."""

    def __init__(self, binary):
        self.binary = binary

    def __call__(self, *args, input=None, cwd=None, timeout=120, env=None, check=None):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.run([self.binary, *map(str, args)], input=input, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, env=full_env)
        if check is not None and proc.returncode != check:
            raise AssertionError(
                f"certgate {' '.join(map(str, args))} exited {proc.returncode}, expected {check}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc


@pytest.fixture(scope="session")
def certgate(certgate_bin):
    return Runner(certgate_bin)


@pytest.fixture
def server(certgate_bin, tmp_path):
    """A fresh certgate server for one test (stopped afterwards)."""
    from cgserver import CertgateServer
    srv = CertgateServer(certgate_bin, tmp_path / "server").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def shared_server(certgate_bin, tmp_path_factory):
    """One certgate server shared by the tests of a module (faster; tests must not depend on
    each other's state beyond what they create themselves)."""
    from cgserver import CertgateServer
    srv = CertgateServer(certgate_bin, tmp_path_factory.mktemp("server")).start()
    yield srv
    srv.stop()
