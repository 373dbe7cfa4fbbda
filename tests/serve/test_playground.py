"""The playground page in headless Chromium (Selenium, the system's chromium and chromedriver).

Outside CI the test skips when Chromium is absent; under CI (CI=true) that is a failure,
since .ci/run installs it. Screenshots go to the test's tmp folder, or to
``TEXTRNN_SCREENSHOT_DIR`` when set (``TEXTRNN_SCREENSHOT_DIR=docs`` refreshes the docs' images).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import API_KEY



def chromium_paths() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail("CI needs chromium and chromedriver for the browser test (.ci/run installs them)")
    pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,760",
                 "--disable-gpu", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    yield driver
    driver.quit()


def test_playground_streams_text_classifies_and_shows_errors(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(server.url + "/")
    # the key is not entered yet: /v1/models answers 401 and the page says so
    wait.until(ready.visibility_of_element_located((By.ID, "error")))
    assert "API key" in browser.find_element(By.ID, "error").text
    key = browser.find_element(By.ID, "key")
    key.send_keys(API_KEY)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)
    wait.until(lambda b: len(Select(b.find_element(By.ID, "model")).options) == 2)

    # a language model: type a prompt, watch the streamed text arrive
    Select(browser.find_element(By.ID, "model")).select_by_value("lm")
    tokens = browser.find_element(By.ID, "max_tokens")
    tokens.clear()
    tokens.send_keys("300")
    browser.find_element(By.ID, "prompt").send_keys("the cat")
    browser.find_element(By.ID, "go").click()
    wait.until(lambda b: len(b.find_element(By.ID, "generated").text) > 0)
    wait.until(lambda b: "300 tokens" in b.find_element(By.ID, "status").text)
    generated = browser.find_element(By.ID, "generated").get_attribute("textContent")
    assert len(generated) == 300  # a char model: one character per token
    lm_shot = tmp_path / "lm.png"
    browser.save_screenshot(str(lm_shot))

    # an API error shows in the page: a temperature the server refuses
    temperature = browser.find_element(By.ID, "temperature")
    temperature.clear()
    temperature.send_keys("500")
    browser.find_element(By.ID, "go").click()
    wait.until(lambda b: "temperature must be at most 100" in b.find_element(By.ID, "error").text)

    # a classifier: labels with probability bars
    Select(browser.find_element(By.ID, "model")).select_by_value("clf")
    prompt = browser.find_element(By.ID, "prompt")
    prompt.clear()
    prompt.send_keys("a great and lovely film")
    browser.find_element(By.ID, "go").click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#bars .bar-row")) == 2)
    labels = {row.get_attribute("data-label") for row in browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")}
    assert labels == {"neg", "pos"}
    widths = [b.size["width"] for b in browser.find_elements(By.CSS_SELECTOR, "#bars .bar")]
    assert sum(widths) == pytest.approx(400, abs=4)  # the bars are the probabilities, 400 px for 1
    assert browser.find_element(By.ID, "error").is_displayed() is False
    shots = Path(os.environ.get("TEXTRNN_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    (shots / "playground.png").write_bytes(lm_shot.read_bytes())
    browser.save_screenshot(str(shots / "playground-classifier.png"))
    assert (shots / "playground-classifier.png").stat().st_size > 10_000
