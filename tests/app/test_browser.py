"""End to end: `streamlit run app.py` on a free local port, driven in a real headless Chromium.

The browser is Debian's `chromium` package (`apt-get install chromium`, done by `.ci/run`),
started through Playwright's `executable_path`; Playwright's own browser download is never used.
The test checks that the recommendation and the heat map render, downloads the compose file and
validates it against the Compose Specification schema (../shared/schemas/compose-spec.json), and
saves the README's screenshot to docs/screenshot.png.  Every wait is bounded and the server is
always stopped.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "docs" / "screenshot.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_S = 60
FIRST_RENDER_MS = 180_000  # a cold first run sizes the whole catalog and plans hardware
STEP_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """The app, served headless on 127.0.0.1; stopped (and killed if need be) whatever happens."""
    pytest.importorskip("streamlit")
    port = free_port()
    log = open(tmp_path / "streamlit.log", "w+")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SIZER_DATA_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within {SERVER_START_S} s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


IDLE_JS = """
() => {
  const busy = document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"],'
      + ' [data-testid="stSpinner"], [data-stale="true"]');
  const now = performance.now();
  if (busy || window.__sizerIdleSince === undefined) { window.__sizerIdleSince = busy ? undefined : now; return false; }
  return now - window.__sizerIdleSince > 1000;
}
"""


def wait_idle(page, timeout_ms: int = STEP_MS) -> None:
    """Until Streamlit has finished the script run: no running icon, spinner or stale element for a second."""
    page.evaluate("() => { window.__sizerIdleSince = undefined; }")
    page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=100)


def metric_values(page) -> dict[str, str]:
    values = {}
    for metric in page.locator("[data-testid='stMetric']").all():
        label = metric.locator("[data-testid='stMetricLabel']").inner_text().strip()
        values[label] = metric.locator("[data-testid='stMetricValue']").inner_text().strip()
    return values


def test_the_page_in_a_real_browser(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=STEP_MS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1900}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(STEP_MS)
            page.goto(server, timeout=STEP_MS)

            # The first screen: the recommendation and the heat map, with nothing touched.
            page.get_by_text("The recommendation", exact=True).wait_for(timeout=FIRST_RENDER_MS)
            page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=FIRST_RENDER_MS)
            wait_idle(page, FIRST_RENDER_MS)
            assert not page.locator("[data-testid='stException']").count()

            # A catalog pick: one RTX 4090 with 64 GB of RAM (the default catalog GPU).
            page.locator("[data-testid='stSidebar']").get_by_text("Catalog", exact=True).first.click()
            page.get_by_text("--hardware rtx-4090@64").wait_for()
            wait_idle(page)
            metrics = metric_values(page)
            assert metrics.get("Engine") in ("llama.cpp", "ollama", "vllm", "tgi"), metrics
            assert metrics.get("Placement") == "gpu" and "tok/s" in metrics.get("Speed per user", ""), metrics
            assert not page.locator("[data-testid='stException']").count()
            assert not page.locator("[data-testid='stAlertContentError']").count(), \
                page.locator("[data-testid='stAlertContentError']").all_inner_texts()

            # The heat map: drawn by Vega in the What fits tab, one row per catalog model.
            page.get_by_text("Rows: the models matching the Model filters").wait_for()
            heat_map = page.locator("[data-testid='stVegaLiteChart']").first
            heat_map.locator("canvas, svg").first.wait_for()
            box = heat_map.bounding_box()
            assert box and box["width"] > 400 and box["height"] > 400, box

            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
            assert SCREENSHOT.stat().st_size > 20_000

            # Deploy: the compose file, downloaded as a user would.
            page.get_by_role("tab", name="Deploy").click()
            button = page.get_by_role("button", name="Download docker-compose.yml")
            if not button.count():
                pytest.skip("this sizer generates no docker-compose.yml (sizer.deploy.deploy is missing)")
            with page.expect_download(timeout=STEP_MS) as download_info:
                button.click()
            target = tmp_path / "docker-compose.yml"
            download_info.value.save_as(str(target))
        finally:
            browser.close()

    document = yaml.safe_load(target.read_text())
    assert isinstance(document, dict) and document.get("services"), document
    schema_path = SHARED / "schemas" / "compose-spec.json"
    if not schema_path.exists():
        pytest.skip(f"{schema_path} is not here: the compose file parsed but was not validated")
    from jsonschema import Draft7Validator

    problems = sorted(Draft7Validator(json.loads(schema_path.read_text())).iter_errors(document), key=str)
    assert not problems, [f"{'/'.join(map(str, p.path))}: {p.message}" for p in problems[:5]]
