"""The ROS commands without the ROS extra: a plain message that says what to install."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_ros_bridge_without_rclpy_says_how_to_install_it() -> None:
    code = ("import sys; sys.modules['rclpy'] = None; from fleet.cli import main; "
            "sys.exit(main(['ros-bridge', '--server', '127.0.0.1:1']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "pip install 'fleet[ros]'" in out.stderr
    assert "Traceback" not in out.stderr


def fleet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_sim_robots_names_the_fleet_when_asked_for_a_robot_not_in_it() -> None:
    out = fleet("sim-robots", "--map", "small", "--robots", "4", "--only", "agv-09")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "agv-09" in out.stderr and "agv-01, agv-02, agv-03, welder-01" in out.stderr
    assert "Traceback" not in out.stderr


def test_external_robots_need_a_running_coordinator_and_no_in_process_fault_injection() -> None:
    out = fleet("sim", "--ros", "--external-robots", "--map", "small", "--robots", "2")
    assert out.returncode == 2 and "--external-robots needs --server" in out.stderr
    out = fleet("sim", "--ros", "--external-robots", "--server", "127.0.0.1:1", "--map",
                "small", "--robots", "2", "--restart-robot", "agv-01@10")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "kill a `fleet sim-robots` process instead" in out.stderr
    out = fleet("sim", "--external-robots", "--server", "127.0.0.1:1", "--map", "small",
                "--robots", "2")
    assert out.returncode == 2 and "add --ros" in out.stderr
