"""The gallery in a real browser: headless Debian Chromium driven by Selenium against
``artgan serve --gallery`` on loopback, with two RGBA versions served.

Needs the Debian packages chromium and chromium-driver (``make test`` installs them when it
can) and the Python package selenium; skipped with a message naming whichever is missing.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import urllib.request

import keras
import pytest
from PIL import Image, ImageSequence
from serving_fixtures import push, write_config

from artgan.config import DataConfig, GalleryConfig, ServerConfig, TrainConfig
from artgan.models.export import export_generator
from artgan.models.networks import build_generator, build_networks
from artgan.serving.server import start_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "artifacts")
MODEL = "art"
LATENT_DIM = 16
RESOLUTION = 32
WAIT_S = 60

for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
    if not os.path.exists(path):
        pytest.skip(
            f"{path} is missing: install Debian's {package} (apt-get install chromium "
            "chromium-driver)",
            allow_module_level=True,
        )
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="the Python package selenium is missing (pip install selenium)"
)
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


class FakeReports:
    """Stands in for pipeline/mlmd/version_reports.VersionReports."""

    def summary(self, model_name, version):
        return {
            "model_name": model_name,
            "version": version,
            "blessed": True,
            "metrics": {"FD": 12.5, "KID": 0.01},
            "gates": [
                {"name": "FD", "limit": 20.0, "value": 12.5, "passed": True},
                {"name": "KID margin", "limit": 0.005, "value": 0.01, "passed": False},
            ],
            "lineage": [
                {"type": "Model", "id": 7, "uri": "/home/Trainer/7", "summary": "3000 steps"}
            ],
            "has_report": True,
        }

    def report_html(self, model_name, version):
        return f"<html><h1>evaluation of {version}</h1></html>".encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Versions 1 and 2 of a 32x32 RGBA generator, both served (policy all)."""
    root = tmp_path_factory.mktemp("gallery_browser")
    for version in (1, 2):
        keras.utils.set_random_seed(version)
        generator = build_generator(LATENT_DIM, RESOLUTION, channels=4, width=32)
        push(
            export_generator(generator, LATENT_DIM, str(root / f"v{version}")),
            root / MODEL,
            version,
        )
    config = write_config(
        root,
        "models.config",
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{root / MODEL}" '
        'model_platform: "tensorflow" model_version_policy { all {} } } }',
    )
    with start_server(
        "",
        MODEL,
        port=0,
        rest_port=0,
        poll_seconds=0.2,
        server=ServerConfig(model_config_file=config),
        gallery=GalleryConfig(gallery=True),
        reports=FakeReports(),
    ) as handle:
        handle.base_path = root / MODEL
        yield handle


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # Debian's: Selenium Manager never downloads a browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1600")
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def wait(driver, condition, message: str):
    """Polls until condition() is truthy; an element the page re-rendered meanwhile is retried."""
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda _: condition(), message
    )


def grid_sources(driver) -> list[str] | None:
    """The grid images' sources once all have decoded, else None."""
    return driver.execute_script(
        """const imgs = [...document.querySelectorAll('#grid img')];
        if (!imgs.length || imgs.some((i) => !i.complete || i.naturalWidth === 0)) return null;
        return imgs.map((i) => i.src);"""
    )


def grid_changed(driver, before: list[str]) -> list[str]:
    def changed():
        now = grid_sources(driver)
        return now if now and now != before else None

    return wait(driver, changed, "the grid did not change")


def served_version(driver) -> str:
    return driver.find_element(By.ID, "served").get_attribute("data-version") or ""


def message(driver) -> str:
    box = driver.find_element(By.ID, "message")
    return box.text if box.is_displayed() else ""


def blob_bytes(driver, url: str) -> bytes:
    encoded = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then((r) => r.arrayBuffer()).then((buffer) => {
          let text = ''; for (const b of new Uint8Array(buffer)) text += String.fromCharCode(b);
          done(btoa(text));
        });""",
        url,
    )
    return base64.b64decode(encoded)


def test_the_gallery_in_a_browser(server, browser):
    browser.get(f"{server.rest.url}/")
    sources = wait(browser, lambda: grid_sources(browser), "the grid's images never decoded")
    assert len(sources) == 16 and len(set(sources)) == 16, "each seed should give its own image"
    # The grid asks `pngs` (psi 1, no class): the same PNGs as serving_default's for seeds 0-15.
    request = urllib.request.Request(
        f"{server.rest.url}/v1/models/{MODEL}:predict",
        data=json.dumps({"instances": list(range(16))}).encode(),
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        served = json.loads(answer.read().decode("utf-8", "replace"))["predictions"]
    assert sources == [f"data:image/png;base64,{p['png_bytes']['b64']}" for p in served]
    assert served_version(browser) == "2"
    assert not message(browser)

    # A PNG download per image.
    link = browser.find_element(By.CSS_SELECTOR, "#grid .download")
    assert link.get_attribute("href").startswith("data:image/png;base64,")
    assert link.get_attribute("download").endswith(".png")

    # Truncation: psi 0 pulls every seed to the mean latent, one image for all.
    psi = browser.find_element(By.ID, "psi")
    psi.send_keys(Keys.HOME)
    truncated = grid_changed(browser, sources)
    assert len(set(truncated)) == 1
    psi.send_keys(Keys.END)
    assert grid_changed(browser, truncated) == sources

    # A walk 0 -> 1 -> 2 -> 0 in 4 steps per leg: 12 frames, animated.
    steps = browser.find_element(By.ID, "walk-steps")
    steps.clear()
    steps.send_keys("4")
    browser.find_element(By.ID, "walk-run").click()
    status = browser.find_element(By.ID, "walk-status")
    wait(browser, lambda: status.get_attribute("data-frames") == "12", "the walk gave no frames")
    frame = browser.find_element(By.ID, "walk-frame")
    first = frame.get_attribute("data-index")
    wait(browser, lambda: frame.get_attribute("data-index") != first, "the walk is not animated")
    assert browser.execute_script("return arguments[0].naturalWidth", frame) == RESOLUTION

    # The walk as an animated GIF, from the page's own encoder.
    browser.find_element(By.ID, "walk-gif").click()
    download = browser.find_element(By.ID, "walk-download")
    wait(browser, download.is_displayed, "no GIF was made")
    gif = Image.open(io.BytesIO(blob_bytes(browser, download.get_attribute("href"))))
    assert gif.format == "GIF" and gif.n_frames == 12
    assert gif.size == (256, 256)  # scaled up by a whole factor to at least 256 pixels
    assert len({frame.convert("RGBA").tobytes() for frame in ImageSequence.Iterator(gif)}) > 1

    # The evaluation summary, gates marked, and the report it links to.
    report = browser.find_element(By.ID, "report")
    wait(browser, lambda: report.find_elements(By.CSS_SELECTOR, ".fail"), "no summary shown")
    assert [e.text for e in report.find_elements(By.CSS_SELECTOR, ".gates td span")] == [
        "pass",
        "fail",
    ]
    report_url = browser.find_element(By.ID, "report-link").get_attribute("href")
    with urllib.request.urlopen(report_url, timeout=30) as response:
        assert b"evaluation of 2" in response.read()

    browser.execute_script("window.scrollTo(0, 0)")
    os.makedirs(ARTIFACTS, exist_ok=True)
    screenshot = os.path.join(ARTIFACTS, "gallery.png")
    browser.save_screenshot(screenshot)
    print(f"screenshot: {screenshot}")

    # The version poll leaves the version list alone while it has not changed, so a dropdown
    # the user has open stays open.
    browser.execute_script(
        """window.versionListRebuilt = false;
        new MutationObserver(() => { window.versionListRebuilt = true; })
          .observe(document.getElementById('version'), { childList: true, subtree: true });
        window.statusPolls = 0;
        const fetchBefore = window.fetch;
        window.fetch = (url, ...rest) => {
          if (/\\/v1\\/models\\/[^/:]+$/.test(String(url))) window.statusPolls += 1;
          return fetchBefore(url, ...rest);
        };"""
    )
    wait(
        browser,
        lambda: browser.execute_script("return window.statusPolls") >= 2,
        "the page did not poll the version list",
    )
    assert not browser.execute_script("return window.versionListRebuilt")

    # Another version: other weights, other images.
    def pick_version_1():
        Select(browser.find_element(By.ID, "version")).select_by_value("1")
        return True

    wait(browser, pick_version_1, "version 1 could not be picked")
    wait(browser, lambda: served_version(browser) == "1", "version 1 was not shown")
    version_1 = grid_changed(browser, sources)
    assert len(set(version_1)) == 16

    # The pinned version is withdrawn: a message, and back to the latest.
    shutil.rmtree(server.base_path / "1")
    wait(browser, lambda: "no longer served" in message(browser), "no message for a gone version")
    wait(browser, lambda: served_version(browser) == "2", "not back to the latest version")
    assert grid_changed(browser, version_1) == sources


def test_errors_are_shown_on_the_page(server, browser):
    browser.get(f"{server.rest.url}/?model=nothing")
    wait(browser, lambda: "nothing" in message(browser), "no message for an unknown model")
    closed = f"http://127.0.0.1:{free_port()}"
    browser.get(f"{server.rest.url}/?api={closed}")
    wait(browser, lambda: "cannot reach" in message(browser), "no message for a server down")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def conditional_server(tmp_path_factory):
    """A class-conditional 8x8 RGBA generator whose generator.json names its 3 classes."""
    root = tmp_path_factory.mktemp("gallery_classes")
    keras.utils.set_random_seed(3)
    train = TrainConfig(latent_dim=LATENT_DIM, generator_width=16, discriminator_width=8)
    generator, _ = build_networks(train, DataConfig(resolution=8, channels=4), num_classes=3)
    export_generator(
        generator, LATENT_DIM, str(root / MODEL / "1"), 3, class_names=("cats", "dogs", "flags")
    )
    with start_server(
        str(root / MODEL),
        MODEL,
        port=0,
        rest_port=0,
        poll_seconds=0.2,
        gallery=GalleryConfig(gallery=True),
    ) as handle:
        yield handle


def test_the_class_picker_names_each_class_and_draws_it(conditional_server, browser):
    browser.get(f"{conditional_server.rest.url}/")
    sources = wait(browser, lambda: grid_sources(browser), "the grid's images never decoded")
    picker = browser.find_element(By.ID, "class-select")
    wait(browser, picker.is_displayed, "no class picker for a conditional model")
    options = [option.text for option in Select(picker).options]
    assert options == ["from the seed", "class 0: cats", "class 1: dogs", "class 2: flags"]
    Select(picker).select_by_visible_text("class 1: dogs")
    dogs = grid_changed(browser, sources)
    request = urllib.request.Request(  # the grid is with_labels' PNGs for class 1
        f"{conditional_server.rest.url}/v1/models/{MODEL}/versions/1:predict",
        data=json.dumps(
            {
                "signature_name": "with_labels",
                "inputs": {"seeds": list(range(16)), "labels": [1] * 16},
            }
        ).encode(),
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        served = json.loads(answer.read().decode("utf-8", "replace"))["outputs"]["png_bytes"]
    assert dogs == [f"data:image/png;base64,{png['b64']}" for png in served]
    assert not message(browser)
