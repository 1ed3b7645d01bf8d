"""The page of ``drgpay serve`` in a real browser: Debian's headless Chromium driven over the Chrome DevTools
Protocol (a websocket), against the service on 127.0.0.1.

It types the published CHS-DRG 2.0 case into the page and reads HC23 from it, uploads a small CSV and checks the
downloaded file against :func:`drgpay.group`, and saves a screenshot (to ``docs/img/serve.png`` with
``DRGPAY_UPDATE_SCREENSHOT=1``, else to the test's temporary folder). It skips only
where no Chromium is installed (``apt-get install chromium``; the browser builds some test tools download are not
used).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import drgpay

pytest.importorskip("fastapi", reason="drgpay[serve] is not installed")
websocket = pytest.importorskip("websocket", reason="websocket-client (in drgpay[test]) is not installed")

from drgpay.payment import example_policy_path  # noqa: E402
from drgpay.serve import create_app, load_service  # noqa: E402
from drgpay.serve.server import serve_in_thread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "docs" / "img" / "serve.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
TIMEOUT = 30.0


def find_chromium() -> str | None:
    """``DRGPAY_CHROMIUM``, else the first Chromium on the PATH."""
    given = os.environ.get("DRGPAY_CHROMIUM")
    if given:
        return given
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class DevTools:
    """A minimal Chrome DevTools Protocol client: commands on one websocket, events kept for inspection."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, timeout=TIMEOUT, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def close(self) -> None:
        self.ws.close()


class Page:
    """One tab: evaluate JavaScript, wait for a condition, type, press keys and click like a user."""

    def __init__(self, tools: DevTools, session: str):
        self.tools, self.session = tools, session

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.tools.call(method, self.session, **params)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, what: str) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what} ({expression})")

    def click(self, selector: str) -> None:
        box = self.js(
            f"(() => {{ const e = document.querySelector({selector!r}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type(self, selector: str, text: str) -> None:
        self.click(selector)
        self.call("Input.insertText", text=text)

    def enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                text="\r",
            )

    def choose(self, selector: str, value: str) -> None:
        """Pick an option of a select (or set a date input) and tell the page, as a user's choice does."""
        self.js(
            f"(() => {{ const e = document.querySelector({selector!r}); e.value = {value!r};"
            " e.dispatchEvent(new Event('change', {bubbles: true})); })()"
        )


def _devtools_url(process: subprocess.Popen[str]) -> str:
    """The browser's websocket address, from the line Chromium prints on stderr at start."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if "DevTools listening on " in line:
            return line.split("DevTools listening on ", 1)[1].strip()
    raise RuntimeError("Chromium did not start:\n" + "".join(seen[-20:]))


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    service = load_service(["chs-drg-2.0"], policy=example_policy_path())
    with serve_in_thread(create_app(service)) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium found (looked for DRGPAY_CHROMIUM and "
            f"{', '.join(BROWSERS)} on the PATH): install Debian's with apt-get install chromium"
        )
    args = [
        chromium,
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--lang=zh-CN",
        "--force-device-scale-factor=1",
        "--window-size=1200,1000",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={tmp_path / 'profile'}",
        "about:blank",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        tools = DevTools(_devtools_url(process))
        try:
            yield tools
        finally:
            with contextlib.suppress(Exception):  # the browser may be gone already
                tools.call("Browser.close")
            tools.close()
    finally:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def open_page(tools: DevTools, url: str) -> Page:
    target = tools.call("Target.createTarget", url="about:blank")["targetId"]
    session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    page = Page(tools, session)
    for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
        page.call(domain)
    page.call(
        "Emulation.setDeviceMetricsOverride", width=1200, height=1000, deviceScaleFactor=1, mobile=False
    )
    page.call("Page.navigate", url=url)
    page.wait("document.body && document.body.dataset.ready === 'true'", "the page to load the groupers")
    return page


def wait_for_file(folder: Path, pattern: str) -> Path:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError(f"no download matching {pattern} in {folder}: {sorted(folder.iterdir())}")


def page_errors(tools: DevTools) -> list[str]:
    """Errors the page reported: exceptions, console errors, and content-security-policy violations."""
    errors = []
    for event in tools.events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.exceptionThrown":
            errors.append(str(params.get("exceptionDetails", {}).get("text")))
        elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(str(params["entry"].get("text")))
        elif event.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(str(params.get("args")))
    return errors


def test_page_groups_the_published_case_and_a_file(browser: DevTools, base_url: str, tmp_path: Path) -> None:
    page = open_page(browser, base_url + "/")
    assert page.js("document.title").startswith("drgpay")
    assert page.js("document.getElementById('payment-fields').hidden") is False  # a policy is loaded

    # the published CHS-DRG 2.0 case: male, 45, K80.101 + I50.900, laparoscopic cholecystectomy 51.2300
    page.choose("#sex", "1")
    page.type("#age", "45")
    page.type("#los", "7")
    page.choose("#discharge_type", "1")
    page.type("#principal_dx", "K80.101")
    page.wait(
        "document.getElementById('principal_dx-name').textContent.includes('胆囊结石')", "the diagnosis name"
    )
    page.type("#secondary_dx-input", "I50.900")
    page.enter()
    page.type("#procedures-input", "腹腔镜下胆囊切除")  # found by name, then the code typed
    page.wait(
        "[...document.getElementById('procedures-list').options].some(o => o.value === '51.2300')",
        "the look-up by name to offer 51.2300",
    )
    page.js("document.getElementById('procedures-input').value = ''")
    page.type("#procedures-input", "51.2300")
    page.enter()
    page.wait("document.querySelectorAll('#procedures-chips li').length === 1", "the procedure chip")
    page.type("#total_cost", "16800.50")
    page.choose("#insurance_type", "职工")
    page.choose("#hospital_level", "3")
    page.choose("#discharge_date", "2025-03-01")
    page.click("#group-button")

    assert (
        page.wait("document.getElementById('result-drg').textContent === 'HC23' && 'HC23'", "HC23") == "HC23"
    )
    assert "胆囊切除手术" in page.js("document.getElementById('result-drg-name').textContent")
    assert page.js("document.getElementById('result-mdc').textContent").startswith("MDCH")
    assert page.js("document.getElementById('result-adrg').textContent").startswith("HC2 ")
    steps = page.js("[...document.querySelectorAll('#steps li')].map(li => li.textContent)")
    assert steps[-1] == "DRG: HC23 (MCC; splits of HC2: 3, 5)"
    assert page.js("document.getElementById('result-weight').textContent") == "1.8087"
    standard = page.js("document.getElementById('result-standard').textContent")
    assert standard == "17318.75"  # 1.8087 × 9575.25, the example policy's 职工 base rate, level 3 at 1.00

    # a small CSV: upload, download, compare with drgpay.group
    sample = pd.read_csv(REPO / "examples" / "sample_export.csv", dtype=str, keep_default_na=False).head(8)
    upload = tmp_path / "discharges.csv"
    sample.to_csv(upload, index=False)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.call(
        "Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads), eventsEnabled=True
    )
    node = page.call(
        "DOM.querySelector", nodeId=page.call("DOM.getDocument")["root"]["nodeId"], selector="#file"
    )
    page.call("DOM.setFileInputFiles", files=[str(upload)], nodeId=node["nodeId"])
    page.click("#upload-button")
    grouped = wait_for_file(downloads, "discharges-grouped.csv")
    data = grouped.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # a byte-order mark, for Excel
    got = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    expected = drgpay.group(sample)
    assert list(got.columns[: len(sample.columns)]) == list(sample.columns)
    assert got["case_id"].tolist() == sample["case_id"].tolist()
    assert got["drg"].tolist() == expected["drg"].astype(str).tolist()
    assert got["status"].tolist() == expected["status"].astype(str).tolist()
    page.wait(
        "document.getElementById('upload-status').textContent.includes('discharges-grouped.csv')", "done"
    )

    assert page_errors(browser) == []
    shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG")
    # the docs' screenshot is refreshed on request only, so a test run leaves the work tree as it was
    target = SCREENSHOT if os.environ.get("DRGPAY_UPDATE_SCREENSHOT") == "1" else tmp_path / "serve.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(small_png(png))
    assert target.stat().st_size > 10_000


def small_png(png: bytes) -> bytes:
    """The screenshot in 128 colours (about a third of the size, text still crisp) when Pillow is there."""
    try:
        from PIL import Image
    except ImportError:
        return png
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128).save(out, "PNG", optimize=True)
    return out.getvalue()


def test_page_shows_the_service_error_for_an_unknown_code(browser: DevTools, base_url: str) -> None:
    page = open_page(browser, base_url + "/")
    page.type("#principal_dx", "X99.999")
    page.wait(
        "document.getElementById('principal_dx-name').textContent.includes('未找到')", "the unknown-code note"
    )
    page.click("#group-button")
    status = page.wait(
        "document.getElementById('result-status').textContent.includes('ungroupable') &&"
        " document.getElementById('result-status').textContent",
        "the status",
    )
    assert "unknown_principal_dx" in status
    assert page.js("document.getElementById('result-drg').textContent") == "0000"
