"""The README's two control-center pictures, taken in headless chromium (Selenium).

    python -m bench.screenshots [--out docs]

Live: `fleet sim` on the plant with 30 robots, paced 5x, after a minute of simulated time,
one robot selected. Replay: `fleet view` over a small run's log, halfway through. Needs
Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _start(args: list[str], wait_for: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    proc = subprocess.Popen([sys.executable, "-m", "fleet.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if wait_for in line:
            return proc
    raise SystemExit(f"fleet {args[0]} ended before printing {wait_for!r}")


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--window-size=1400,820"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                            options=options)


def _wait(driver: Any, script: str, timeout_s: float = 300.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {script}")


def main() -> None:
    """Take both pictures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs"))
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    driver = _browser()
    try:
        live = _start(["sim", "--map", "plant", "--robots", "30", "--missions", "90",
                       "--seed", "4", "--pace", "5", "--no-progress",
                       "--http", "127.0.0.1:18931"], "control center at")
        try:
            driver.get("http://127.0.0.1:18931/")
            _wait(driver, "window.fleetView && window.fleetView.ready && "
                          "window.fleetView.lastFrame && window.fleetView.lastFrame.t > 240")
            target = _wait(driver, "(window.fleetView.lastFrame.robots.find(r => "
                                   "r.state === 'moving' && r.task) || {}).id")
            driver.execute_script("window.fleetView.select && window.fleetView.select("
                                  "arguments[0]);", target)
            time.sleep(1.0)
            driver.save_screenshot(str(out / "control-center-live.png"))
        finally:
            live.terminate()
            live.wait(timeout=20)
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "run.jsonl"
            subprocess.run([sys.executable, "-m", "fleet.cli", "sim", "--map", "plant",
                            "--robots", "12", "--missions", "20", "--seed", "2",
                            "--no-progress", "--log", str(log)], cwd=ROOT, check=False,
                           capture_output=True)
            replay = _start(["view", str(log), "--http", "127.0.0.1:18932"], "replay of")
            try:
                driver.get("http://127.0.0.1:18932/")
                _wait(driver, "window.fleetView && window.fleetView.ready")
                driver.execute_script(
                    "const s = document.getElementById('slider');"
                    "s.value = Math.floor(s.max * 0.4); s.dispatchEvent(new Event('input'));")
                time.sleep(1.0)
                driver.save_screenshot(str(out / "control-center-replay.png"))
            finally:
                replay.terminate()
                replay.wait(timeout=20)
    finally:
        driver.quit()
    for name in ("control-center-live.png", "control-center-replay.png"):
        print(f"{out / name}: {(out / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
