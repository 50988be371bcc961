"""A mission survives the trip to the wire and back: the one conversion both ends use."""

from __future__ import annotations

from fleet.api.convert import mission_from_wire, mission_to_spec
from fleet.model import Mission, Task, TaskKind


def test_mission_round_trips_through_its_wire_spec() -> None:
    mission = Mission(
        "boom-17",
        (Task("bring", TaskKind.TRANSPORT, pickup="cut-out-1", dropoff="weld-3",
              load_id="boom-17", mass_kg=640.0),
         Task("weld", TaskKind.WELD, ("bring",), cell="weld-3", program="BOOM-A",
              duration_s=90.0, load_id="boom-17"),
         Task("top-up", TaskKind.CHARGE, ("weld",), cell="charger-2", robot="agv-04"),
         Task("park", TaskKind.PARK, ("top-up",), cell="park-1", robot="agv-04",
              delay_s=5.0)),
        priority=2, deadline_s=3600.0, labels={"model": "EX-220"})
    assert mission_from_wire(mission_to_spec(mission)) == mission
