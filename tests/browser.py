"""A real headless Chromium driven over the W3C WebDriver protocol, and a real server in a thread,
for the tests (and bench scripts) that look at the page of ``bptt serve``.

Chromium and ChromeDriver are the operating system's packages (Debian ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them): no browser is downloaded. WebDriver is JSON over
HTTP, so the standard library's urllib drives it; typing goes through real key events.

``require_browser()`` returns the two paths; when one is missing it skips the test naming what to
install, or, with the environment variable ``CI`` set, fails it.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

# Chromium as root in a container needs --no-sandbox; the networking flags stop its background
# connections, which this machine's closed network refuses (and which a test does not want).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1000,760"]


def require_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths; skip (fail under CI) naming the missing package."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [pkg for pkg, path in (("chromium", chromium), ("chromium-driver", driver)) if path is None]
    if missing:
        message = f"needs Chromium and ChromeDriver: apt-get install {' '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but this test {message}", pytrace=False)
        pytest.skip(message)
    return chromium, driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``condition()`` until it returns a true value; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def serving(app):
    """Serve the ASGI ``app`` with uvicorn on a free loopback port in a thread; yields its URL."""
    import uvicorn
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, what="uvicorn to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Browser:
    """One headless Chromium session through ChromeDriver."""

    def __init__(self, chromium: str, driver: str):
        self.port = free_port()
        self.profile = tempfile.TemporaryDirectory(prefix="bptt-chromium-")
        self.driver = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        try:
            wait_for(self._driver_ready, what="chromedriver to start")
            caps = {"browserName": "chrome", "goog:chromeOptions": {
                "binary": chromium, "args": CHROMIUM_FLAGS + [f"--user-data-dir={self.profile.name}"]}}
            session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
            self.session = session["sessionId"]
        except BaseException:
            self._stop_driver()
            raise

    def _driver_ready(self) -> bool:
        try:
            return bool(self._call("GET", "/status").get("ready"))
        except (urllib.error.URLError, ConnectionError):
            return False

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as err:
            reply = err.read().decode(errors="replace")[:500]
            raise RuntimeError(f"WebDriver {method} {path}: {reply}") from None

    def _session(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        """The WebDriver id of the first element matching ``css``."""
        found = self._session("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def type(self, css: str, text: str) -> None:
        """Key presses into the element, as a user types them."""
        self._session("POST", f"/element/{self.find(css)}/value", {"text": text})

    def run(self, script: str, *args):
        """The value of a JavaScript function body run in the page (``return ...``)."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self) -> bytes:
        return base64.b64decode(self._session("GET", "/screenshot"))

    def close(self) -> None:
        try:
            self._session("DELETE", "")
        finally:
            self._stop_driver()

    def _stop_driver(self) -> None:
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        self.profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
