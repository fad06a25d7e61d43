"""Headless Chromium for the report tests: one launcher, and a DevTools-protocol page to drive.

Debian's ``chromium`` (``.ci/run`` installs it) with the flags that work offline in a container;
:func:`chromium_command` is the command line every test starts it with. :class:`DevToolsPage`
starts it with ``--remote-debugging-port=0``, attaches to its page over the DevTools protocol
(a websocket, ``websocket-client``) and clicks and types with real input events
(``Input.dispatchMouseEvent``, ``Input.insertText``), so a test drives the page as a person would.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
)

#: what a headless run needs here: no sandbox (containers), no GPU, and nothing that phones home
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

SKIP_REASON = "no chromium on PATH (CI installs Debian's `chromium`)"


def chromium_command(profile: Path, *args: str) -> list[str]:
    """The command line of a headless Chromium with a fresh profile folder ``profile``."""
    assert CHROMIUM is not None, SKIP_REASON
    return [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]


class DevToolsError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class _Connection:
    """The browser's DevTools websocket: command ids and the events not yet waited for, shared by
    the browser's session and the page's."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.last_id = 0
        self.events: list[dict[str, Any]] = []

    def receive(self) -> dict[str, Any]:
        return json.loads(self.socket.recv())


class DevToolsPage:
    """One page of a headless Chromium, driven over the DevTools protocol (flattened sessions);
    :attr:`browser` is the browser's own session (downloads)."""

    def __init__(self, connection: _Connection, session: str) -> None:
        self._connection = connection
        self._session = session

    @classmethod
    @contextlib.contextmanager
    def launch(cls, profile: Path, *, timeout: float = 60.0) -> Iterator[DevToolsPage]:
        """Start Chromium on about:blank and yield its page; the browser is stopped on exit."""
        import websocket

        profile.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            chromium_command(profile, "--remote-debugging-port=0", "--window-size=1280,1600", "about:blank"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise DevToolsError(f"chromium did not open its DevTools port (exit code {proc.poll()})")
                time.sleep(0.05)
            port, path = port_file.read_text().split()[:2]
            sock = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=timeout, suppress_origin=True)
            try:
                connection = _Connection(sock)
                browser = cls(connection, "")
                targets = browser.send("Target.getTargets")["targetInfos"]
                target = next(t["targetId"] for t in targets if t["type"] == "page")
                session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
                page = cls(connection, session)
                page.browser = browser
                page.send("Page.enable")
                page.send("Runtime.enable")
                yield page
            finally:
                sock.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    browser: DevToolsPage

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to this session) and return its result; events that arrive
        meanwhile are kept for :meth:`wait_for_event`."""
        conn = self._connection
        conn.last_id += 1
        command_id = conn.last_id
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        conn.socket.send(json.dumps(message))
        while True:
            reply = conn.receive()
            if reply.get("id") == command_id:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                conn.events.append(reply)

    def wait_for_event(self, method: str, *, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """The first event ``method`` whose params include ``params``, waiting up to ``timeout``."""
        conn = self._connection
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(conn.events):
                if event.get("method") == method and all(event["params"].get(k) == v for k, v in params.items()):
                    return conn.events.pop(i)["params"]
            if time.monotonic() > deadline:
                raise DevToolsError(f"no {method} event with {params} within {timeout:.0f} s")
            reply = conn.receive()
            if "method" in reply:
                conn.events.append(reply)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.send("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (returned by value)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def click(self, element: str) -> None:
        """Scroll the element (a JavaScript expression giving it) into view and click its centre
        with the mouse, as a person would."""
        box = self.evaluate(
            f"(() => {{ const e = {element}; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height}; })()"
        )
        if not box or box["w"] <= 0 or box["h"] <= 0:
            raise DevToolsError(f"{element} is not visible")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", buttons=1, clickCount=1
            )

    def type_into(self, element: str, text: str) -> None:
        """Click into a text field and type ``text``."""
        self.click(element)
        self.send("Input.insertText", text=text)

    def allow_downloads(self, folder: Path) -> None:
        """Save downloads under their own names in ``folder`` and report their progress."""
        self.browser.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder), eventsEnabled=True)

    def wait_for_download(self, *, timeout: float = 30.0) -> str:
        """The suggested file name of the next download, once it has completed."""
        begun = self.browser.wait_for_event("Browser.downloadWillBegin", timeout=timeout)
        self.browser.wait_for_event("Browser.downloadProgress", timeout=timeout, guid=begun["guid"], state="completed")
        return begun["suggestedFilename"]
