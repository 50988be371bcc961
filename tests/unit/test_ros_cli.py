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
