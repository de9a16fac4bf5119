"""The page at `/` in a real headless browser (Debian's chromium, driven by selenium):
every one of the five boxes answers, bad input gets a readable sentence, and a screenshot
of each box is saved. They go to a temporary folder, so a test run never changes the
repository; to refresh the ones docs/serving.md shows:

    SCREENSHOTS_TO=docs/serving .venv/bin/python -m pytest tests/serving/test_page.py
"""

import os
import shutil
from pathlib import Path

import pytest

from serving.app import background_server, create_app
from serving.models import ModelStore, find_models
from tests.serving.conftest import server_settings

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
    driver.set_window_size(900, 1400)
    yield driver
    driver.quit()


def send(section, text=None):
    """Type `text` (when given) into a box and press its Send button."""
    from selenium.webdriver.common.by import By

    if text is not None:
        box = section.find_elements(By.TAG_NAME, "textarea") or section.find_elements(
            By.CSS_SELECTOR, "input[type=text]"
        )
        box[0].clear()
        box[0].send_keys(text)
    button = section.find_element(By.TAG_NAME, "button")
    button.click()
    return button


def error_of(wait, section):
    from selenium.webdriver.common.by import By

    wait.until(lambda _: section.find_elements(By.CSS_SELECTOR, ".answer.error"))
    return section.find_element(By.CSS_SELECTOR, ".answer.error").text


def test_the_page_answers_in_a_browser(browser, toy_exports, tmp_path):
    """Every box answers; errors are sentences; each box is saved as <task>.png."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    screenshots = Path(os.environ.get("SCREENSHOTS_TO") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    store = ModelStore(lambda: find_models(toy_exports[0]), poll_seconds=60)
    with background_server(create_app(store, server_settings())) as url:
        browser.get(url)
        assert browser.find_element(By.CSS_SELECTOR, "meta[name=viewport]")
        wait = WebDriverWait(browser, 60)
        sections = {}
        for task in ("sentiment", "tagging", "generation", "translation", "timeseries"):
            sections[task] = wait.until(expected_conditions.presence_of_element_located((By.ID, f"model-{task}")))

        sentiment = sections["sentiment"]
        send(sentiment, "the film was good great lovely")
        wait.until(lambda _: sentiment.find_elements(By.CLASS_NAME, "label"))
        assert sentiment.find_element(By.CLASS_NAME, "label").text in ("label: pos", "label: neg")
        assert "neg: " in sentiment.text and "pos: " in sentiment.text and "class 0" not in sentiment.text

        tagging = sections["tagging"]
        assert tagging.find_element(By.CLASS_NAME, "legend").text.startswith("tags:")
        send(tagging)
        wait.until(lambda _: len(tagging.find_elements(By.CSS_SELECTOR, ".answer .token")) == 4)

        generation = sections["generation"]
        length = generation.find_element(By.NAME, "max_length")
        length.clear()
        length.send_keys("5000")
        send(generation, "ROMEO:")
        assert error_of(wait, generation) == "max_length=5000: must be in [1, 2000]"
        length.clear()
        length.send_keys("2000")
        button = send(generation)
        assert not button.is_enabled()  # Send waits for the answer
        wait.until(lambda _: button.is_enabled() and "ROMEO:" in generation.find_element(By.CLASS_NAME, "answer").text)
        length.clear()
        length.send_keys("300")  # a shorter answer for the screenshot
        send(generation)
        wait.until(lambda _: len(generation.find_element(By.CLASS_NAME, "answer").text) > 200)

        translation = sections["translation"]
        send(translation, "one two three")
        wait.until(lambda _: translation.find_elements(By.CSS_SELECTOR, "table.attention"))
        send(translation, "   ")
        wait.until(lambda _: "empty translation" in translation.text)
        send(translation, "one two three")
        wait.until(lambda _: translation.find_elements(By.CSS_SELECTOR, "table.attention"))

        forecast = sections["timeseries"]
        assert "A window is 12 values" in forecast.text
        send(forecast, "1, 2, Infinity")
        assert error_of(wait, forecast) == "The window needs 12 values; got 3."
        send(forecast, ",".join(["1"] * 11 + ["x"]))
        assert error_of(wait, forecast) == "Value 12 is not a number."
        send(forecast, " ")
        wait.until(lambda _: forecast.find_elements(By.TAG_NAME, "svg"))
        assert "load at 2021-01-13" in forecast.text  # the forecast follows the series' last timestamp
        axis_labels = [label.text for label in forecast.find_elements(By.CSS_SELECTOR, "svg text")]
        assert "-11" in axis_labels and "0" in axis_labels and "2" in axis_labels

        for task, section in sections.items():
            browser.execute_script("arguments[0].scrollIntoView()", section)
            section.screenshot(str(screenshots / f"{task}.png"))
    for task in sections:
        png = (screenshots / f"{task}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and 2_000 < len(png) < 200_000
