"""The page at `/` in a real headless browser (Debian's chromium, driven by selenium):
it loads, a sentence typed into the sentiment box shows a label, tagged tokens and a
forecast appear, and a screenshot is saved."""

import shutil

import pytest

from serving.app import ServerSettings, background_server, create_app
from serving.models import ModelStore, find_models

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver (`make install` installs them)"
)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--disable-background-networking")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_window_size(1100, 1400)
    yield driver
    driver.quit()


def test_the_page_answers_in_a_browser(browser, toy_exports, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    store = ModelStore(lambda: find_models(toy_exports[0]), poll_seconds=60)
    with background_server(create_app(store, ServerSettings())) as url:
        browser.get(url)
        wait = WebDriverWait(browser, 60)
        sentiment = wait.until(expected_conditions.presence_of_element_located((By.ID, "model-sentiment")))
        box = sentiment.find_element(By.TAG_NAME, "input")
        box.clear()
        box.send_keys("the film was good great lovely")
        sentiment.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda _: sentiment.find_elements(By.CLASS_NAME, "label"))
        assert sentiment.find_element(By.CLASS_NAME, "label").text in ("label: pos", "label: neg")
        tagging = browser.find_element(By.ID, "model-tagging")
        tagging.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda _: len(tagging.find_elements(By.CLASS_NAME, "token")) == 4)
        forecast = browser.find_element(By.ID, "model-timeseries")
        forecast.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda _: forecast.find_elements(By.TAG_NAME, "svg"))
        assert "load at 2021-01-13" in forecast.text  # the forecast follows the series' last timestamp
        screenshot = tmp_path / "page.png"
        browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")
