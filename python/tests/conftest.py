"""Fixtures: the package from build/python (PYTHONPATH), a real `sextant serve` per session, and
each test run against the embedded and the HTTP client alike."""

import glob
import json
import os
import shutil
import subprocess
import tempfile

import sys

import pytest

try:
    import sextant
except ImportError:  # built without pybind11: the pure-Python package from the sources
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ""))
    import sextant

try:
    from sextant import _core  # noqa: F401
    HAVE_CORE = True
except ImportError:
    # Not built (no pybind11) is a reason to skip; built but not importable is a broken build,
    # which must fail the run rather than skip every embedded test.
    if glob.glob(os.path.join(os.path.dirname(sextant.__file__), "_core*.so")):
        raise
    HAVE_CORE = False

requires_core = pytest.mark.skipif(
    not HAVE_CORE, reason="sextant._core not built (install pybind11-dev and python3-dev, then make build)")


def sextant_program():
    env = os.environ.get("SEXTANT_CLI")
    if env:
        return env
    # build/python/sextant/__init__.py -> build/sextant
    return os.path.normpath(os.path.join(os.path.dirname(sextant.__file__), "..", "..", "sextant"))


class Server:
    def __init__(self, data):
        self.data = data
        self.proc = subprocess.Popen([sextant_program(), "serve", "--data", data, "--port", "0",
                                      "--busy-poll-us", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:
            ev = json.loads(line)
            if ev.get("event") == "listening":
                self.port = ev["port"]
                break
        else:
            raise RuntimeError("sextant serve exited before listening")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def server():
    if not os.path.exists(sextant_program()):
        pytest.skip(f"no sextant program at {sextant_program()}")
    d = tempfile.mkdtemp(prefix="sextant-pytest-server-")
    s = Server(os.path.join(d, "data"))
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="sextant-pytest-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["embedded", "http"])
def client(request, tmpdir_path):
    if request.param == "embedded":
        if not HAVE_CORE:
            pytest.skip("sextant._core not built")
        c = sextant.PersistentClient(path=os.path.join(tmpdir_path, "db"))
        yield c
    else:
        srv = request.getfixturevalue("server")
        c = sextant.HttpClient(host="127.0.0.1", port=srv.port)
        c.reset()
        yield c
        c.reset()
