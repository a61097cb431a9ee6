"""The package as a user gets it: installed with pip into a virtual environment (from a copy of
python/, with the extension the build made), and HttpClient over TLS to `sextant serve`."""

import json
import os
import shutil
import ssl
import subprocess
import sys

import pytest

import sextant

from conftest import HAVE_CORE, sextant_program

PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _can_make_venvs():
    try:
        import pip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not HAVE_CORE, reason="sextant._core not built: nothing to install but the HTTP client")
@pytest.mark.skipif(not _can_make_venvs(), reason="pip or venv is not installed (Debian: python3-pip, python3-venv)")
def test_pip_install_into_a_venv(tmpdir_path):
    # A copy of python/, so that pip's in-tree build leaves nothing in the checkout.
    src = os.path.join(tmpdir_path, "src")
    shutil.copytree(PYTHON_DIR, src, ignore=shutil.ignore_patterns("tests", "__pycache__", "build", "*.egg-info"))
    venv = os.path.join(tmpdir_path, "venv")
    # --system-site-packages: numpy, setuptools and pip come from Debian; nothing is downloaded.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True,
                   timeout=120)
    py = os.path.join(venv, "bin", "python")
    build = os.path.normpath(os.path.join(os.path.dirname(sextant.__file__), "..", ".."))
    env = dict(os.environ, SEXTANT_BUILD=build, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)  # the installed copy, not the build tree's
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--quiet", src],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    check = ("import sextant, sys, tempfile\n"
             "assert sextant.__file__.startswith(sys.prefix), sextant.__file__\n"
             "c = sextant.PersistentClient(path=tempfile.mkdtemp())\n"
             "col = c.create_collection('x', configuration={'dimension': 2})\n"
             "col.add(ids=['a', 'b'], embeddings=[[1, 0], [0, 1]])\n"
             "print(col.query(query_embeddings=[[0.9, 0.1]], n_results=1)['ids'])\n")
    r = subprocess.run([py, "-c", check], capture_output=True, text=True, env=env, cwd=tmpdir_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[['a']]"


@pytest.mark.skipif(not os.path.exists(sextant_program()), reason="no sextant program")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl program to make a certificate")
def test_http_client_over_tls(tmpdir_path):
    cert, key = os.path.join(tmpdir_path, "cert.pem"), os.path.join(tmpdir_path, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    proc = subprocess.Popen([sextant_program(), "serve", "--data", os.path.join(tmpdir_path, "data"), "--port", "0",
                             "--busy-poll-us", "0", "--tls-cert", cert, "--tls-key", key],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = None
        for line in proc.stdout:
            ev = json.loads(line)
            if ev.get("event") == "listening":
                assert ev["tls"] is True
                port = ev["port"]
                break
        assert port, "sextant serve exited before listening"
        ctx = ssl.create_default_context(cafile=cert)
        client = sextant.HttpClient(host="localhost", port=port, ssl=True, ssl_context=ctx)
        col = client.create_collection("t", metadata={"over": "tls"}, configuration={"dimension": 2})
        col.add(ids=["a", "b"], embeddings=[[1, 0], [0, 1]], documents=["one", "two"])
        assert col.query(query_embeddings=[[0.1, 0.9]], n_results=1)["ids"] == [["b"]]
        assert client.get_collection("t").metadata == {"over": "tls"}
        assert col.get(ids=["b", "a"])["documents"] == ["two", "one"]
        # A client that does not trust the certificate is refused, with sextant's error.
        untrusting = sextant.HttpClient(host="localhost", port=port, ssl=True)
        with pytest.raises(sextant.errors.UnavailableError):
            untrusting.heartbeat()
        # Plain HTTP to the TLS port gets no answer it could take for one.
        plain = sextant.HttpClient(host="localhost", port=port, timeout=0.5)
        with pytest.raises(sextant.errors.SextantError):
            plain.heartbeat()
        # Closes the keep-alive connections (the server would wait out their idle timeout on exit).
        del client, col, untrusting, plain
        import gc
        gc.collect()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
