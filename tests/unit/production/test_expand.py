"""Expanding orders: the task graph follows the routing, centres spread by queued work."""

from __future__ import annotations

import pytest

from fleet.model import InvalidInputError, MissionRecord, NotFoundError, TaskKind
from fleet.production import Order, expand_order, load_line, queued_work, unit_ids
from tests.conftest import ROOT

TINY = ROOT / "tests" / "data" / "lines" / "tiny.yaml"


@pytest.fixture
def line():  # type: ignore[no-untyped-def]
    return load_line(TINY)


def test_unit_task_graph_follows_the_routing(line) -> None:  # type: ignore[no-untyped-def]
    (mission,) = expand_order(line.catalog, Order("o7", "ARM3", release_s=100.0,
                                                  deadline_s=4000.0, priority=2))
    assert mission.id == "o7-1"
    tasks = {t.id: t for t in mission.tasks}
    assert list(tasks) == ["to-weld-1", "weld-2", "to-machine-3", "to-assemble-4"]
    to_weld, weld, to_machine, to_asm = tasks.values()
    # cutting (36 s) delays the release; the part appears at a cutter's outfeed
    assert mission.release_s == 136.0 and mission.deadline_s == 4000.0
    assert mission.priority == 2
    assert to_weld.kind is TaskKind.TRANSPORT and to_weld.pickup == "cut-out-3"
    assert to_weld.depends_on == () and to_weld.mass_kg == 600
    assert weld.kind is TaskKind.WELD and weld.cell == to_weld.dropoff == "weld-1"
    assert weld.depends_on == ("to-weld-1",) and weld.load_id == "o7-1"
    assert weld.program == "ARM-B" and weld.duration_s == 48
    assert (to_machine.pickup, to_machine.dropoff) == ("weld-1", "mach-in-1")
    assert to_machine.depends_on == ("weld-2",) and to_machine.delay_s == 0
    # the machine's 36 s is the start delay of the transport that takes the part away
    assert (to_asm.pickup, to_asm.dropoff) == ("mach-out-1", "asm-1")
    assert to_asm.delay_s == 36 and to_asm.mass_kg == 576
    assert {t.load_id for t in mission.tasks} == {"o7-1"}
    assert mission.labels == {"order": "o7", "model": "ARM3", "unit": "1",
                              "order_release_s": "100"}


def test_units_of_one_order_spread_over_centres(line) -> None:  # type: ignore[no-untyped-def]
    units = expand_order(line.catalog, Order("o1", "BKT-1", count=4))
    assert [m.id for m in units] == unit_ids("o1", 4) == ["o1-1", "o1-2", "o1-3", "o1-4"]
    cells = [next(t.cell for t in m.tasks if t.kind is TaskKind.WELD) for m in units]
    assert cells == ["weld-1", "weld-2", "weld-1", "weld-2"]
    cutters = [m.tasks[0].pickup for m in units]
    assert sorted(cutters) == ["cut-out-3", "cut-out-3", "cut-out-4", "cut-out-4"]


def test_queued_work_of_open_missions_steers_the_choice(line) -> None:  # type: ignore[no-untyped-def]
    first = expand_order(line.catalog, Order("a", "ARM3-L"))
    records = [MissionRecord.new(m, i) for i, m in enumerate(first)]
    queued = queued_work(records)
    # the weld's 72 s, and one each for the part dropped there and picked from there
    assert queued["weld-1"] == 74
    (second,) = expand_order(line.catalog, Order("b", "BKT-1"), queued)
    assert next(t.cell for t in second.tasks if t.kind is TaskKind.WELD) == "weld-2"


def test_consecutive_welds_stay_in_one_cell() -> None:
    import yaml

    from fleet.production import parse_line
    doc = yaml.safe_load(TINY.read_text())
    doc["models"]["TWO"] = [
        {"process": "cut", "duration_s": 5, "mass_kg": 100},
        {"process": "weld", "program": "A", "duration_s": 10},
        {"process": "weld", "program": "B", "duration_s": 20},
        {"process": "assemble", "duration_s": 5}]
    (m,) = expand_order(parse_line(yaml.safe_dump(doc)).catalog, Order("t", "TWO"))
    assert [t.id for t in m.tasks] == ["to-weld-1", "weld-2", "weld-3", "to-assemble-4"]
    assert m.tasks[1].cell == m.tasks[2].cell and m.tasks[2].depends_on == ("weld-2",)


@pytest.mark.parametrize(("order", "field", "value"), [
    (Order("o", "BKT-1", count=0), "order.count", 0),
    (Order("o", "BKT-1", count=1001), "order.count", 1001),
    (Order("bad id", "BKT-1"), "order.order_id", "'bad id'"),
    (Order("o" * 60, "BKT-1"), "order.order_id", "o" * 60),
    (Order("o", "BKT-1", release_s=-1.0), "order.release_s", -1.0),
    (Order("o", "BKT-1", release_s=50.0, deadline_s=40.0), "order.deadline_s", 40.0),
])
def test_bad_order_names_the_field(line, order: Order, field: str,  # type: ignore[no-untyped-def]
                                   value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        expand_order(line.catalog, order)
    assert (info.value.field, info.value.value) == (field, value)


def test_unknown_model_names_the_model(line) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError) as info:
        expand_order(line.catalog, Order("o", "NOPE"))
    assert (info.value.field, info.value.value) == ("order.model", "NOPE")


def test_orders_are_released_every_takt_in_a_seeded_mix(line) -> None:  # type: ignore[no-untyped-def]
    orders = line.orders(seed=3, units=6)
    assert [o.release_s for o in orders] == [0, 150, 300, 450, 600, 750]
    assert [o.deadline_s for o in orders] == [3000, 3150, 3300, 3450, 3600, 3750]
    assert orders == line.orders(seed=3, units=6)
    assert [o.model for o in orders] != [o.model for o in line.orders(seed=4, units=6)]
    assert [o.release_s for o in line.orders(seed=3, units=3, takt_s=100)] == [0, 100, 200]
