"""bptt serve: the command serves the shipped model on the port it is given; without the extra it
says in one line what to install."""
import json
import subprocess
import sys
import urllib.error
import urllib.request

from bptt.cli import main
from browser import free_port, wait_for


def _get(url: str, body: dict | None = None):
    """(status, JSON body), or None while nothing listens."""
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except OSError:
        return None


def test_serve_answers_on_its_port_until_stopped():
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bptt.cli", "serve", "--port", str(port),
                               "--max-texts", "2"], stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _get(base + "/health"), what="bptt serve to answer") == \
            (200, {"status": "ok", "model": "sst2"})
        status, body = _get(base + "/predict", {"text": "this movie is not good"})
        assert (status, body["label"]) == (200, "negative")
        status, body = _get(base + "/predict", {"texts": ["a", "b", "c"]})
        assert (status, body["error"]) == (422, "texts has 3 texts; at most 2 per request")
    finally:
        server.terminate()
        _, err = server.communicate(timeout=10)
    assert f"on http://127.0.0.1:{port}/" in err


def test_without_the_serve_extra_one_line_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bptt serve: needs the optional extra 'serve' (pip install 'bptt[serve]')")
    assert err.count("\n") == 1
