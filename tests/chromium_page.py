"""Test helper: open a page in headless Chromium and read what it rendered, over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe``: the DevTools protocol (CDP) runs over two
pipes (the browser reads NUL-terminated JSON messages on fd 3 and writes them on fd 4), so no
WebSocket library, driver or downloaded browser is needed -- only Debian's ``chromium`` package,
which ``scripts/setup`` installs. :func:`render` loads one URL and returns the page's facts
(tables, images, console errors, a screenshot).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# The flags that work on this project's machines (headless, root, closed network).
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
    "--remote-debugging-pipe",
)

# Facts read from the DOM after the load event.
_FACTS_JS = """
JSON.stringify({
  title: document.title,
  tables: [...document.querySelectorAll('table')].map(t => ({
    rows: [...t.querySelectorAll('tr')].map(r => [...r.children].map(c => c.textContent.trim())),
    width: t.getBoundingClientRect().width,
    height: t.getBoundingClientRect().height,
  })),
  transcripts: [...document.querySelectorAll('pre.transcript')].map(p => ({
    text: p.textContent, left: p.getBoundingClientRect().left, top: p.getBoundingClientRect().top,
    width: p.getBoundingClientRect().width, height: p.getBoundingClientRect().height,
  })),
  images: [...document.images].map(i => ({
    alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth,
    naturalHeight: i.naturalHeight, shownWidth: i.getBoundingClientRect().width,
  })),
})
"""


@dataclass
class RenderedPage:
    """What Chromium rendered: the DOM facts, console/log errors and a PNG screenshot."""

    title: str
    tables: list[dict[str, Any]]
    images: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    transcripts: list[dict[str, Any]] = field(default_factory=list)


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.proc = proc
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer over the DevTools pipe in time")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe (exit {self.proc.poll()})")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"CDP {method} failed: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            ev = self._read_message(deadline)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
            self.events.append(ev)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for ev in events:
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                    for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            out.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
    return out


def _high_fd(fd: int) -> int:
    """Move ``fd`` above 9 so the shell redirections onto 3 and 4 cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


def render(url: str, width: int = 1000, height: int = 1400, timeout: float = 120.0) -> RenderedPage:
    """Load ``url`` in headless Chromium; return its tables, images, errors and a screenshot."""
    if CHROMIUM is None:
        raise FileNotFoundError("no chromium binary")
    browser_in_r, browser_in_w = (_high_fd(fd) for fd in os.pipe())
    browser_out_r, browser_out_w = (_high_fd(fd) for fd in os.pipe())
    profile = tempfile.mkdtemp(prefix="recoworld-chromium-")
    # the browser reads commands on fd 3 and writes replies on fd 4
    cmd = ["bash", "-c", f'exec "$0" "$@" 3<&{browser_in_r} 4>&{browser_out_w}', CHROMIUM,
           *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
    proc = subprocess.Popen(cmd, pass_fds=(browser_in_r, browser_out_w),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(browser_in_r)
    os.close(browser_out_w)
    pipe = _Pipe(proc, browser_in_w, browser_out_r)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
        session = pipe.call("Target.attachToTarget",
                            {"targetId": target["targetId"], "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        pipe.events.clear()  # only what the page itself does counts
        pipe.call("Page.navigate", {"url": url}, session=session)
        pipe.wait_event("Page.loadEventFired", session, timeout=timeout)
        value = pipe.call("Runtime.evaluate", {"expression": _FACTS_JS, "returnByValue": True},
                          session=session)["result"]["value"]
        facts = json.loads(value)
        shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        page_events = [e for e in pipe.events if e.get("sessionId") == session]
        page = RenderedPage(facts["title"], facts["tables"], facts["images"], _errors(page_events),
                            base64.b64decode(shot), facts["transcripts"])
        try:
            pipe.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError):
            pass  # the browser may close the pipe before it answers
        return page
    finally:
        os.close(browser_in_w)
        os.close(browser_out_r)
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
