"""The studio in a real headless Chromium (Playwright): upload → result → download, live optimisation progress, the
webcam mode on a fake camera. Screenshots go to out/screenshots/. Skipped with a reason without Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from PIL import Image

from tests.browser_helpers import launch, wait_until, why_no_browser, write_y4m

reason = why_no_browser()
pytestmark = pytest.mark.skipif(reason is not None, reason=reason or "")

SCREENSHOTS = Path(__file__).resolve().parents[1] / "out" / "screenshots"
TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from painterly.web.app import create_app
    from painterly.web.server import BackgroundServer
    from painterly.web.settings import StudioSettings

    settings = StudioSettings(data_dir=tmp_path_factory.mktemp("studio"), preview_seconds=0.3)
    with BackgroundServer(create_app(settings)) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    camera = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m")
    with sync_playwright() as playwright:
        chromium = launch(playwright, camera)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, studio_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(studio_url)
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


def picture(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A photo-like test picture: smooth colours with a few shapes."""
    width, height = size
    rows, cols = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [
            128 + 100 * np.sin(cols / 23),
            128 + 100 * np.cos(rows / 17),
            255 * ((cols - width / 2) ** 2 + (rows - height / 2) ** 2 < (height / 4) ** 2),
        ],
        axis=-1,
    )
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path)
    return path


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_dropped_photo_shows_the_preset_result_and_downloads_it(page: Any, tmp_path: Path) -> None:
    wait_until(page, "document.querySelector('#preset-select').options.length > 1")
    page.select_option("#preset-select", "starry_night")
    photo = tmp_path / "chelsea.jpg"  # scikit-image's CC0 photo: the screenshot goes into the README
    Image.fromarray(skimage.data.chelsea()).save(photo, quality=95)
    page.set_input_files("#photo-input", str(photo))
    result = page.locator("#result-image")
    result.wait_for(state="visible")
    wait_until(
        page,
        "document.querySelector('#result-image').complete && document.querySelector('#result-image').naturalWidth > 0",
    )
    assert page.evaluate("window.painterlyTimings.lastDropToResultMs") > 0
    shot(page, "studio_preset")
    with page.expect_download() as download_info:
        page.click("#download")
    saved = tmp_path / "download.png"
    download_info.value.save_as(saved)
    with Image.open(saved) as image:
        assert image.format == "PNG"
        assert max(image.size) == 512  # the default size, at full resolution
    assert page.locator("#gallery li").count() >= 1


@pytest.mark.real_weights
def test_optimisation_shows_progress_then_the_result(page: Any, tmp_path: Path) -> None:
    page.check("input[name=style-mode][value=painting]")
    page.set_input_files("#style-input", str(picture(tmp_path / "style.png", (128, 128))))
    page.select_option("#method-select", "gatys")
    page.select_option("#size-select", "256")
    page.fill("#iterations", "60")
    page.set_input_files("#photo-input", str(picture(tmp_path / "photo.png")))
    page.click("#go")
    wait_until(
        page,
        "document.querySelector('#progress').value > 0 && document.querySelector('#preview-image').src",
    )
    shot(page, "studio_progress")
    page.locator("#result-image").wait_for(state="visible")
    wait_until(page, "document.querySelector('#result-image').naturalWidth > 0")
    shot(page, "studio_optimisation")


def canvas_pixels(page: Any) -> np.ndarray:
    data = page.evaluate(
        """() => { const c = document.querySelector('#webcam-canvas');
                   return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""
    )
    return np.asarray(data, dtype=np.float32).reshape(-1, 4)[:, :3]


def set_range(page: Any, selector: str, value: float) -> None:
    page.eval_on_selector(
        selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", value
    )


def test_webcam_mode_renders_stylised_frames(page: Any) -> None:
    wait_until(page, "document.querySelector('#webcam-style').options.length > 1")
    page.select_option("#webcam-size", "256")  # a fixed working size: the two snapshots must match in size
    page.click("#webcam-start")
    wait_until(page, "window.painterlyWebcam.frames >= 5")
    set_range(page, "#webcam-strength", 0)
    frames = page.evaluate("window.painterlyWebcam.frames")
    wait_until(page, f"window.painterlyWebcam.frames >= {frames + 3}")
    camera = canvas_pixels(page)
    set_range(page, "#webcam-strength", 1)
    page.select_option("#webcam-style", label="the scream")
    frames = page.evaluate("window.painterlyWebcam.frames")
    wait_until(page, f"window.painterlyWebcam.frames >= {frames + 3}")
    stylised = canvas_pixels(page)
    shot(page, "studio_webcam")
    assert camera.std() > 10 and stylised.std() > 10  # pictures, not blank canvases
    assert np.abs(stylised - camera).mean() > 15  # the network changed the frame
    assert page.evaluate("window.painterlyWebcam.fps") > 0
    page.click("#webcam-stop")
