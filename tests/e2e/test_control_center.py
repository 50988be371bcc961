"""The control center in a real browser: Debian's chromium driven by Selenium over its
chromedriver, against `fleet sim --http` (live) and `fleet view` (replay).

Selenium rather than Playwright: Playwright drives only the browser builds it downloads
itself (its protocol is pinned to them), while Selenium speaks WebDriver to the chromedriver
Debian ships with its chromium, so the test runs on what `apt-get install chromium
chromium-driver` gives, offline.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from fleet.v1 import fleet_pb2, fleet_pb2_grpc
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium "
           "chromium-driver; .ci/run installs them)")

ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], wait_for: str, timeout_s: float = 300.0
          ) -> tuple[subprocess.Popen[str], list[str]]:
    """Start a `fleet` command; return it once a line containing `wait_for` is printed."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "fleet.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if wait_for in line:
            # Keep reading, so that a chatty process never blocks on a full pipe.
            threading.Thread(target=lambda: proc.stdout and proc.stdout.read(),
                             daemon=True).start()
            return proc, lines
    proc.kill()
    raise AssertionError(f"{args[0]} did not print {wait_for!r}:\n{''.join(lines)}")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1500,950", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, script: str, timeout_s: float = 60.0) -> Any:
    """Poll a JS expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({script});")
        if value:
            return value
        time.sleep(0.2)
    state = driver.execute_script("return JSON.stringify(window.fleetView || null);")
    logs = driver.get_log("browser") if hasattr(driver, "get_log") else []
    raise AssertionError(f"timed out waiting for {script}; fleetView={state}; console={logs}")


def test_live_page_draws_the_floor_and_robots_pauses_one_and_shows_a_bad_field(
        browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    http_port = free_port()
    proc, lines = start(["sim", "--map", "plant", "--robots", "8", "--missions", "40",
                         "--seed", "3", "--pace", "2", "--no-progress",
                         "--http", f"127.0.0.1:{http_port}"], "control center at")
    try:
        grpc_port = next(int(line.rsplit(" ", 1)[1]) for line in lines
                         if "coordinator on port" in line)
        base = f"http://127.0.0.1:{http_port}"
        floor = httpx.get(f"{base}/api/v1/floor", timeout=10).json()
        browser.get(base + "/")
        wait_until(browser, "window.fleetView && window.fleetView.ready")
        # Every robot the coordinator knows is drawn, with the whole floor under it.
        wait_until(browser, "window.fleetView.frames >= 3 && window.fleetView.stats && "
                            "window.fleetView.stats.robotsDrawn.length >= 8")
        stats = browser.execute_script("return window.fleetView.stats;")
        robots = httpx.get(f"{base}/api/v1/robots", timeout=10).json()["robots"]
        assert sorted(stats["robotsDrawn"]) == sorted(r["robot_id"] for r in robots)
        assert stats["stationsDrawn"] == len(floor["stations"]) > 0
        assert stats["obstaclesDrawn"] == len(floor["obstacles"])
        assert stats["zonesDrawn"] == len(floor["zones"])
        assert stats["floorDraws"] >= 1
        # Robots move: some robot's drawn position changes by more than 0.2 m.
        first = browser.execute_script("return window.fleetView.lastFrame;")
        start_xy = {r["id"]: (r["x"], r["y"]) for r in first["robots"]}
        origin = json.dumps(start_xy)
        moved = (f"window.fleetView.lastFrame.robots.some(r => {{ const p = {origin}[r.id]; "
                 "return p && Math.hypot(r.x - p[0], r.y - p[1]) > 0.2; })")
        wait_until(browser, moved, timeout_s=90)
        # Pause a moving robot by clicking it, then the panel's pause button.
        target = wait_until(browser, "(window.fleetView.lastFrame.robots.find(r => "
                                     "r.state === 'moving') || {}).id", timeout_s=60)
        canvas = browser.find_element(By.ID, "floor")
        for _ in range(5):
            x, y = browser.execute_script(f"return window.fleetView.screenOf({target!r});")
            size = canvas.size
            ActionChains(browser).move_to_element_with_offset(
                canvas, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()
            if browser.execute_script("return window.fleetView.selected;") == target:
                break
        assert browser.execute_script("return window.fleetView.selected;") == target
        button = browser.find_element(By.ID, "robot-action")
        assert button.text == "pause"
        button.click()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = fleet_pb2_grpc.FleetStub(channel)
            deadline = time.monotonic() + 20
            held = ""
            while time.monotonic() < deadline and not held:
                reply = stub.ListRobots(fleet_pb2.ListRobotsRequest(), timeout=10)
                held = next(r.paused_reason for r in reply.robots if r.robot_id == target)
                time.sleep(0.2)
        assert held == "paused from the control center"
        wait_until(browser, f"window.fleetView.lastFrame.robots.find(r => r.id === "
                            f"{target!r}).state === 'paused'")
        # A mission naming a station that does not exist: the server's message appears on
        # the line of the field it names.
        bad = {"mission_id": "bad-one", "tasks": [{"task_id": "move", "transport": {
            "pickup_station": "nowhere", "dropoff_station": floor["stations"][0]["id"],
            "load_id": "p", "mass_kg": 5}}]}
        editor = browser.find_element(By.ID, "mission-json")
        editor.clear()
        browser.execute_script("document.getElementById('mission-json').value = "
                               "arguments[0];", json.dumps(bad, indent=2))
        browser.find_element(By.ID, "submit").click()
        note = wait_until(browser, "document.querySelector('.field-error')")
        field = note.get_attribute("data-field")
        assert field == "mission.tasks[0].transport.pickup_station"
        line = note.find_element(By.XPATH, "..")
        assert line.get_attribute("data-path") == field
        assert '"pickup_station": "nowhere"' in line.text and "nowhere" in note.text
        assert "HTTP 404" in browser.find_element(By.ID, "submit-result").text or \
            "HTTP 400" in browser.find_element(By.ID, "submit-result").text
        # The event feed speaks plain words.
        wait_until(browser, "window.fleetView.events > 0")
        assert "given to" in browser.find_element(By.ID, "events").text or \
            "accepted" in browser.find_element(By.ID, "events").text
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "control-center-live.png"))
    finally:
        stop(proc)


def test_replay_plays_a_recorded_log(browser: Any, tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    done = subprocess.run([sys.executable, "-m", "fleet.cli", "sim", "--map", "small",
                           "--robots", "3", "--missions", "4", "--no-progress",
                           "--log", str(log)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    proc, _ = start(["view", str(log), "--http", f"127.0.0.1:{port}"], "replay of")
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait_until(browser, "window.fleetView && window.fleetView.ready && "
                            "window.fleetView.replay")
        total = browser.execute_script("return window.fleetView.replay.frames;")
        assert total > 10
        drawn = browser.execute_script("return window.fleetView.stats.robotsDrawn;")
        header = json.loads(log.read_text().splitlines()[0])
        assert sorted(drawn) == sorted(r["id"] for r in header["robots"])
        first = browser.execute_script("return window.fleetView.lastFrame;")
        browser.execute_script("document.getElementById('speed').value = '100';")
        browser.find_element("id", "play").click()
        wait_until(browser, f"window.fleetView.replay.index > {total // 3}", timeout_s=120)
        later = browser.execute_script("return window.fleetView.lastFrame;")
        assert later["t"] > first["t"]
        assert any(math.hypot(a["x"] - b["x"], a["y"] - b["y"]) > 0.01
                   for a, b in zip(first["robots"], later["robots"], strict=False))
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "control-center-replay.png"))
    finally:
        stop(proc)


def test_serve_http_shows_a_missions_graph_events_in_plain_words_and_hovered_robots(
        browser: Any, tmp_path: Path) -> None:
    """The page beside `fleet serve` on the wall clock, robots in a process of their own:
    a mission's dependency graph with each task's state, the event feed with the
    dispatcher's reasons in plain words, a robot's summary on hover."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    grpc_port, http_port = free_port(), free_port()
    server, _ = start(["serve", "--map", "small", "--db", str(tmp_path / "fleet.db"),
                       "--address", f"127.0.0.1:{grpc_port}",
                       "--http", f"127.0.0.1:{http_port}"], "control center at")
    robots, _ = start(["sim-robots", "--server", f"127.0.0.1:{grpc_port}", "--map", "small",
                       "--robots", "4", "--seed", "1"], "connected")
    base = f"http://127.0.0.1:{http_port}"
    try:
        cell, part = "weld-1", "m-1-part"
        mission = {"mission_id": "m-1", "tasks": [
            {"task_id": "bring", "transport": {"pickup_station": "in-1", "dropoff_station": cell,
                                               "load_id": part, "mass_kg": 100}},
            {"task_id": "weld", "depends_on": ["bring"], "weld": {
                "cell_station": cell, "program": "BOOM-A", "duration_s": 5}},
            {"task_id": "take", "depends_on": ["weld"], "transport": {
                "pickup_station": cell, "dropoff_station": "out-1", "load_id": part,
                "mass_kg": 100}}]}
        assert httpx.post(f"{base}/api/v1/missions", json=mission,
                          timeout=10).status_code == 201
        browser.get(base + "/")
        wait_until(browser, "window.fleetView && window.fleetView.ready && "
                            "window.fleetView.frames >= 3")
        # The dispatcher's reason, in plain words, as it gives the first task out.
        wait_until(browser, "document.getElementById('events').textContent"
                            ".includes('task bring of m-1 given to ')", timeout_s=60)
        feed = browser.find_element(By.ID, "events").text
        given = next(line for line in feed.splitlines() if "task bring of m-1 given to" in line)
        assert "cost" in given and "approach" in given, given
        assert "mission m-1 accepted" in feed
        # Once the part is on its way, stop the mission: its tasks' states are final.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            doc = httpx.get(f"{base}/api/v1/missions/m-1", timeout=10).json()
            if any(t["state"] in ("TASK_STATE_ACTIVE", "TASK_STATE_DONE") for t in doc["tasks"]):
                break
            time.sleep(0.5)
        assert httpx.post(f"{base}/api/v1/missions/m-1/cancel", json={"reason": "line stop"},
                          timeout=10).status_code == 200
        wait_until(browser, "document.getElementById('events').textContent"
                            ".includes('mission m-1 cancelled: line stop')")
        final = {t["spec"]["task_id"]: t["state"].removeprefix("TASK_STATE_").lower()
                 for t in httpx.get(f"{base}/api/v1/missions/m-1", timeout=10).json()["tasks"]}
        # The mission's row opens its graph: a box per task with its state, an arrow per
        # dependency.
        wait_until(browser, "[...document.querySelectorAll('#missions tbody tr')].some("
                            "tr => tr.textContent.includes('m-1') && "
                            "tr.textContent.includes('cancelled'))")
        row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "#missions tbody tr")
                   if "m-1" in tr.text)
        row.click()
        wait_until(browser, "document.querySelectorAll('#mission-detail svg rect').length")
        boxes = browser.execute_script(
            "return [...document.querySelectorAll('#mission-detail svg text')]"
            ".map(t => t.textContent);")
        assert len(boxes) == 3
        for task_id, state in final.items():
            assert any(b.startswith(f"{task_id} {state}") for b in boxes), (task_id, state, boxes)
        assert browser.execute_script(
            "return document.querySelectorAll('#mission-detail svg line').length;") == 2
        # Hovering a robot shows its summary beside the pointer.
        canvas = browser.find_element(By.ID, "floor")
        target = browser.execute_script("return window.fleetView.lastFrame.robots[0].id;")
        for _ in range(5):
            x, y = browser.execute_script(f"return window.fleetView.screenOf({target!r});")
            size = canvas.size
            ActionChains(browser).move_to_element_with_offset(
                canvas, int(x - size["width"] / 2), int(y - size["height"] / 2)).perform()
            if browser.execute_script("return window.fleetView.hovered;") == target:
                break
        tip = browser.find_element(By.ID, "robot-tip")
        assert tip.is_displayed()
        assert tip.text.startswith(f"{target}: ") and "battery" in tip.text
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "control-center-serve.png"))
    finally:
        stop(robots)
        stop(server)
