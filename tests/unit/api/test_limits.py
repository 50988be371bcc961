"""The limits table: every input message of every service is checked, and the README shows
the same table."""

from __future__ import annotations

import re

import pytest

from fleet.api.limits import LIMITS, check, checked_types
from fleet.model import MAX_VIOLATIONS, InvalidInputError, Reason, escape, shorten
from fleet.v1 import fleet_pb2, missions_pb2, robot_link_pb2, simulation_pb2
from tests.conftest import ROOT


def test_every_message_a_service_takes_has_a_check() -> None:
    inputs = {m.input_type.full_name for f in (missions_pb2, fleet_pb2, robot_link_pb2,
                                                simulation_pb2)
              for s in f.DESCRIPTOR.services_by_name.values() for m in s.methods}
    # Streams carry these inside their envelope messages.
    inputs -= {"fleet.v1.RobotUpdate"}
    inputs |= {"fleet.v1.Hello", "fleet.v1.RobotState"}
    assert inputs <= {t.DESCRIPTOR.full_name for t in checked_types()}


def test_the_readme_shows_every_limit() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Limits and error codes", 1)[1].split("\n## ", 1)[0]
    for limit in LIMITS:
        assert f"| {limit.fields} | {limit.describe()} |" in section, limit.fields
    for reason in Reason:
        assert f"`{reason.value}`" in section, reason


def test_violations_are_collected_and_bounded() -> None:
    spec = missions_pb2.MissionSpec(mission_id="a b", deadline_s=float("nan"))
    for k in range(50):
        spec.tasks.add(task_id=f"bad id {k}")
    with pytest.raises(InvalidInputError) as raised:
        check(missions_pb2.SubmitMissionRequest(mission=spec))
    err = raised.value
    assert len(err.violations) == MAX_VIOLATIONS and err.found > 100
    assert err.reason is Reason.INVALID_ID
    assert len(err.message) < 1000


def test_values_are_shortened_and_escaped() -> None:
    assert shorten("x" * 1000) == "'" + "x" * 64 + "'…(1000 chars)"
    assert escape("a\nb\x1b[0m\x00\u2028") == "a\\nb\\x1b[0m\\x00\\u2028"
    assert re.fullmatch(r"[ -~…()]+", shorten("\x00" * 500))


def test_a_retryable_refusal_carries_its_delay_as_retry_info() -> None:
    from google.rpc import error_details_pb2

    from fleet.api.errors import rich_status
    from fleet.model import UnavailableError

    def retry_infos(error: UnavailableError) -> list[float]:
        out = []
        for detail in rich_status(error).details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                out.append(info.retry_delay.ToTimedelta().total_seconds())
        return out

    assert retry_infos(UnavailableError("welder not back yet", retry_after_s=5.0)) == [5.0]
    assert retry_infos(UnavailableError("store down")) == []
