"""Release commands: the waypoints kept from a robot's last release are the ones a release
built from nothing would have (cell centres, planned times, speed limits)."""

from __future__ import annotations

from pathlib import Path

from fleet.traffic import Release
from tests.unit.coordinator.lockstep import Lockstep, agv, transport


def test_waypoints_kept_across_releases_equal_those_built_afresh(tmp_path: Path) -> None:
    run = Lockstep([agv("agv-1", 7.5, 1.5), agv("agv-2", 9.5, 1.5)], log=tmp_path / "run.jsonl")
    execution = run.coordinator.execution
    seen: list[tuple[str, Release, float]] = []
    original = execution.follow_path

    def spy(release: Release, epoch_s: float, robot_id: str = ""):  # type: ignore[no-untyped-def]
        seen.append((robot_id, release, epoch_s))
        return original(release, epoch_s, robot_id)

    execution.follow_path = spy  # type: ignore[method-assign]
    sent = []
    send = execution.outbox.send

    def keep(robot_id, stream, command):  # type: ignore[no-untyped-def]
        sent.append((robot_id, command))
        return send(robot_id, stream, command)

    execution.outbox.send = keep  # type: ignore[method-assign]
    run.connect()
    run.submit(transport("first"), transport("second", "buf-1", "out-1"))
    run.run(max_s=600)
    assert run.coordinator.open_missions() == 0
    assert run.check().ok
    commands = [c for _, c in sent if hasattr(c, "planned")]
    assert len(seen) == len(commands) >= 10
    # Most releases reuse waypoints: the next one repeats the cells planned ahead.
    assert sum(bool(r.planned) for _, r, _ in seen) >= len(seen) // 2
    fresh = type(execution)(execution.site, execution.state, execution.robots,
                            execution.traffic, execution.journal, execution.outbox,
                            execution.places, execution.failures, execution.estimates,
                            execution.config, execution.inbox)
    for (_, release, epoch_s), command in zip(seen, commands, strict=True):
        built = fresh.follow_path(release, epoch_s)  # no robot id: nothing kept
        assert command == built
        assert len(command.waypoints) == len(release.cells)
        assert len(command.planned) == len(release.planned)
