"""The page at GET / in a real headless Chromium (selenium, the system's chromedriver), against
the real service started as a process on loopback.

Chromium and chromedriver come from the system (`scripts/test.sh` installs them: `apt-get
install chromium chromium-driver`); without them these tests FAIL with that hint rather than
skip, so CI cannot pass without running them. Set RESUME_NER_NO_BROWSER=1 to skip them on a
machine that cannot have a browser. Selenium Manager never runs (the driver path is given
and SE_OFFLINE is set), and Chromium is kept off the network: no proxy, every host name but
127.0.0.1 unresolvable, background services off.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow  # starts the service and a browser

API_KEY = "page-test-key"
KEY_ENV = "RESUME_NER_PAGE_TEST_KEY"
MAX_CHARS = 400  # small, so the error path needs only a short text
READY_TIMEOUT_S = 60
WAIT_S = 20
INSTALL_HINT = (
    "the browser test needs Chromium and its driver: `apt-get install -y chromium "
    "chromium-driver` (scripts/test.sh does it), or set RESUME_NER_NO_BROWSER=1 to skip it"
)
PROXY_ENV = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")

# A resume with newlines, non-ASCII letters and an astral character (emoji) before most of
# it: offsets after the emoji differ between code points (the service) and UTF-16 (JS).
RESUME = (
    "Zoë Ångström 🚀\n"
    "Senior Software Engineer at Exämple GmbH, München\n"
    "\n"
    "Skills: Python, PyTorch, Kubernetes, SQL\n"
    "Education: M.Sc. Computer Science, Technische Universität Berlin, 2016\n"
    "zoe@example.com"
)


def _browser_paths() -> tuple[str, str]:
    if os.environ.get("RESUME_NER_NO_BROWSER") == "1":
        pytest.skip("RESUME_NER_NO_BROWSER=1: the browser test is off on this machine")
    browser = next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        missing = " and ".join(
            name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path
        )
        pytest.fail(f"{missing} not found on PATH: {INSTALL_HINT}", pytrace=False)
    return browser, driver


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    return _browser_paths()


@pytest.fixture(scope="module")
def service(browser_paths, tiny_package, tmp_path_factory) -> Iterator[str]:
    """The service on the tiny package, with an API key and MAX_CHARS; its base URL (the
    browser is looked for first: fail or skip before building the package)."""
    folder = tmp_path_factory.mktemp("page-service")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV}
    env.update({KEY_ENV: API_KEY, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    log = folder / "service.log"
    command = [
        sys.executable, "-m", "resume_ner.serve", f"model={tiny_package}",
        f"serve.port={port}", "serve.host=127.0.0.1", f"serve.max_chars={MAX_CHARS}",
        f"serve.api_key_env={KEY_ENV}", "serve.threads=1", "serve.drain_seconds=2",
        f"hydra.run.dir={folder / 'hydra'}",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the service exited ({process.returncode}):\n{_tail(log)}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service not ready in {READY_TIMEOUT_S} s:\n{_tail(log)}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def driver(browser_paths, service) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        # Loopback only: no proxy, no name but 127.0.0.1 resolves, no background traffic.
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(arg)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download anything
        for name in PROXY_ENV:
            mp.delenv(name, raising=False)
        browser_driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        browser_driver.set_page_load_timeout(WAIT_S)
        yield browser_driver
    finally:
        browser_driver.quit()


def _api(service: str, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"X-API-Key": API_KEY}
    return httpx.request(method, f"{service}{path}", headers=headers, timeout=30, **kwargs)


def _wait(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition, message)


def _open(driver, service: str, key: str | None = API_KEY) -> None:
    """Load the page fresh (sessionStorage cleared), enter `key` and wait for the legend."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(service + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(service + "/")
    if key is None:
        return
    field = driver.find_element(By.ID, "api-key")
    field.send_keys(key, Keys.TAB)  # the change event reloads the model's labels
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#legend li"), "no legend")


def _set_text(driver, text: str) -> None:
    """Put `text` in #text as typed (chromedriver cannot type astral characters like emoji)."""
    driver.execute_script(
        "const t = document.getElementById('text'); t.value = arguments[0];"
        "t.dispatchEvent(new Event('input', {bubbles: true}));",
        text,
    )


def _marks(driver) -> list[list[str]]:
    """[label, text] of each highlighted entity, in order (textContent: whitespace exact)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#result mark.entity'),"
        " m => [m.dataset.label, m.textContent]);"
    )


def test_page_highlights_what_the_service_finds(driver, service, tmp_path):
    from selenium.webdriver.common.by import By

    model = _api(service, "GET", "/v1/model").json()
    expected = _api(service, "POST", "/v1/extract", json={"text": RESUME}).json()["entities"]
    _open(driver, service)

    legend = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#legend li")]
    assert legend == model["labels"]
    counter = driver.find_element(By.ID, "counter").text
    assert f"/ {MAX_CHARS}" in counter

    # Typing works (newlines, non-ASCII); the resume itself is set as the value, as a paste
    # would, because chromedriver cannot type the emoji.
    driver.find_element(By.ID, "text").send_keys("Zoë\nMünchen")
    typed = driver.execute_script("return document.getElementById('text').value")
    assert typed == "Zoë\nMünchen"
    assert driver.find_element(By.ID, "counter").text == f"11 / {MAX_CHARS} characters"
    _set_text(driver, RESUME)
    driver.find_element(By.ID, "extract").click()
    _wait(
        driver,
        lambda d: d.find_element(By.ID, "status").text.startswith(("Found", "No entities")),
        "no result",
    )
    assert not driver.find_element(By.ID, "error").is_displayed()
    # The text comes back exactly as sent, newlines and all, and never as HTML.
    assert driver.execute_script("return document.getElementById('result').textContent") == RESUME

    slices = [[e["label"], RESUME[e["start"] : e["end"]]] for e in sorted(
        expected, key=lambda e: e["start"])]  # fmt: skip
    assert _marks(driver) == slices
    rows = driver.find_elements(By.CSS_SELECTOR, "#entities tbody tr")
    assert len(rows) == len(expected)
    for row, entity in zip(rows, sorted(expected, key=lambda e: e["start"]), strict=True):
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        assert cells[0] == entity["label"]
        assert cells[2:4] == [str(entity["start"]), str(entity["end"])]
    if not expected:  # the tiny model is random: it may find nothing in this text
        assert driver.find_element(By.ID, "status").text == "No entities found."
        assert "No entities" in driver.find_element(By.CSS_SELECTOR, "#entities caption").text

    shot = tmp_path / "page.png"
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 1000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_counts_code_points_not_utf16_units(driver, service):
    """window.resumeNer.render with a crafted answer: astral characters before an entity do
    not shift its highlight, and markup in the text stays text."""
    from selenium.webdriver.common.by import By

    _open(driver, service)
    text = '👩‍💻 𝔍ane Doe\n<img src=x onerror="window.pwned=1">\nSkills: Python 🐍, SQL'
    spans = [("NAME", "𝔍ane Doe"), ("SKILL", "Python"), ("SKILL", "SQL")]
    entities = []
    for label, part in spans:
        start = text.index(part)  # Python: code points, as the service counts
        entities.append(
            {"label": label, "start": start, "end": start + len(part), "text": part, "score": 0.9}
        )
    assert len(text[: entities[1]["start"]].encode("utf-16-le")) // 2 != entities[1]["start"]
    count = driver.execute_script(
        "return window.resumeNer.render(arguments[0], arguments[1]);", text, entities
    )
    assert count == 3
    assert _marks(driver) == [[label, part] for label, part in spans]
    result = driver.find_element(By.ID, "result")
    assert driver.execute_script("return arguments[0].textContent", result) == text
    assert not result.find_elements(By.TAG_NAME, "img")
    assert driver.execute_script("return window.pwned") is None
    titles = [m.get_attribute("title") for m in result.find_elements(By.CSS_SELECTOR, "mark")]
    assert titles == ["NAME 0.900", "SKILL 0.900", "SKILL 0.900"]
    rows = driver.find_elements(By.CSS_SELECTOR, "#entities tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [p for _, p in spans]


def test_errors_show_in_the_error_box(driver, service):
    """A text over serve.max_chars: the service's 413 shows; so does a missing API key."""
    from selenium.webdriver.common.by import By

    _open(driver, service, key=None)
    error = driver.find_element(By.ID, "error")
    _wait(driver, lambda d: error.is_displayed(), "no error without the API key")
    assert "401" in error.text and "unauthorized" in error.text

    _open(driver, service)  # the key entered: the model loads and the error clears
    assert not driver.find_element(By.ID, "error").is_displayed()
    _set_text(driver, "x" * (MAX_CHARS + 1))
    counter = driver.find_element(By.ID, "counter")
    assert counter.text == f"{MAX_CHARS + 1} / {MAX_CHARS} characters"
    assert "over" in counter.get_attribute("class")
    driver.find_element(By.ID, "extract").click()
    error = driver.find_element(By.ID, "error")
    _wait(driver, lambda d: error.is_displayed(), "no error box for a text over the limit")
    assert "413" in error.text and "text_too_long" in error.text
    assert f"limit of {MAX_CHARS}" in error.text


def test_api_key_is_kept_for_the_session(driver, service):
    from selenium.webdriver.common.by import By

    _open(driver, service)
    driver.refresh()
    assert driver.find_element(By.ID, "api-key").get_attribute("value") == API_KEY
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#legend li"), "no legend")
    assert not driver.find_element(By.ID, "error").is_displayed()
    stored = driver.execute_script("return JSON.stringify(Object.entries(sessionStorage))")
    assert API_KEY in json.loads(stored)[0]
