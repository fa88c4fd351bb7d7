"""A file opened in Debian's Chromium (headless, driven by Selenium): its charts and its requests."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# Every svg.chart: its size on the page, and how many of its .series elements have a drawn size.
CHARTS_JS = """
return Array.from(document.querySelectorAll('svg.chart')).map(svg => {
  const box = svg.getBoundingClientRect();
  const drawn = Array.from(svg.querySelectorAll('.series')).filter(el => {
    const b = el.getBBox(); return b.width > 0 || b.height > 0;
  }).length;
  return {name: svg.dataset.chart, width: box.width, height: box.height, drawn: drawn};
});
"""


@dataclass
class OpenedPage:
    charts: dict[str, dict[str, Any]]
    requests: list[str]  # every URL the page's document asked for (the page itself included)
    errors: list[str]  # console messages of level SEVERE (a blocked request says so there)


def open_report(path: Path, profile: Path, width: int = 900, height: int = 2400) -> OpenedPage:
    if not CHROMIUM.is_file() or not CHROMEDRIVER.is_file():
        pytest.fail("Chromium is missing: `make install` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.get(path.as_uri())
        charts = {c["name"]: c for c in driver.execute_script(CHARTS_JS)}
        requests = []
        # Chromium's own pages (its new tab page, chrome://) request things too: only the report's count
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if (
                message["method"] == "Network.requestWillBeSent"
                and message["params"].get("documentURL") == path.as_uri()
            ):
                requests.append(message["params"]["request"]["url"])
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        return OpenedPage(charts, requests, errors)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
