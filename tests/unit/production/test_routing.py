"""Routings and line files: good ones parse, bad ones are rejected naming the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.floor import load_floor
from fleet.model import InvalidInputError, NotFoundError
from fleet.production import Process, load_line, parse_catalog, parse_line
from tests.conftest import PLANT_MAP, ROOT

TINY = ROOT / "tests" / "data" / "lines" / "tiny.yaml"


def tiny_doc() -> dict[str, Any]:
    return yaml.safe_load(TINY.read_text())  # type: ignore[no-any-return]


def test_bundled_line_has_over_a_hundred_models_on_the_plant() -> None:
    line = load_line(ROOT / "lines" / "plant.yaml")
    assert len(line.catalog.routings) >= 100
    assert line.takt_s == 360
    line.catalog.check_floor(load_floor(PLANT_MAP))
    processes = {op.process for r in line.catalog.routings.values() for op in r.operations}
    assert processes == set(Process)
    for routing in line.catalog.routings.values():
        assert routing.operations[0].process is Process.CUT
        assert routing.operations[-1].process is Process.ASSEMBLE
        assert max(routing.masses_kg()) <= line.fleet.agv_payload_kg


def test_family_scales_durations_and_masses_by_size_and_variant() -> None:
    catalog = parse_catalog(tiny_doc())
    assert set(catalog.routings) == {"BKT-1", "ARM2", "ARM2-L", "ARM3", "ARM3-L"}
    base, big_long = catalog.routings["ARM2"], catalog.routings["ARM3-L"]
    assert [op.duration_s for op in base.operations] == [30, 40, 30, 60]
    # size 3 scales everything by 1.2, variant L the weld by 1.5 again and the mass by 1.1
    assert [op.duration_s for op in big_long.operations] == [36, 72, 36, 72]
    assert big_long.masses_kg() == (660, 660, 634, 634)
    assert big_long.operations[1].program == "ARM-B"


def bad(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(tiny_doc())
    change(doc)
    return doc


CASES = [
    # (what is wrong, change to the tiny line, field named, value named)
    ("routing starts elsewhere", lambda d: d["models"]["BKT-1"][0].update(
        process="weld", program="P"), "models.BKT-1[0].process", "weld"),
    ("routing ends elsewhere", lambda d: d["models"]["BKT-1"].pop(),
     "models.BKT-1[1].process", "weld"),
    ("cut in the middle", lambda d: d["models"]["BKT-1"].insert(1, {
        "process": "cut", "duration_s": 5}), "models.BKT-1[1].process", "cut"),
    ("unknown process", lambda d: d["models"]["BKT-1"][1].update(process="grind"),
     "models.BKT-1[1].process", "grind"),
    ("negative duration", lambda d: d["models"]["BKT-1"][1].update(duration_s=-4),
     "models.BKT-1[1].duration_s", -4),
    ("weld without program", lambda d: d["models"]["BKT-1"][1].pop("program"),
     "models.BKT-1[1].program", None),
    ("program on a machine", lambda d: d["families"][0]["operations"][2].update(program="X"),
     "families[0].operations[2].program", "X"),
    ("no first mass", lambda d: d["models"]["BKT-1"][0].pop("mass_kg"),
     "models.BKT-1[0].mass_kg", None),
    ("typo in a key", lambda d: d["models"]["BKT-1"][1].update(duraton_s=3),
     "models.BKT-1[1].duraton_s", "duraton_s"),
    ("bad variant factor key", lambda d: d["families"][0]["variants"].update(X={"polish": 2}),
     "families[0].variants.X.polish", "polish"),
    ("zero size factor", lambda d: d["families"][0]["sizes"].update({"4": 0}),
     "families[0].sizes.4", 0),
    ("machine centre not a pair", lambda d: d["stations"].update(machine=["mach-in-1"]),
     "stations.machine[0]", "mach-in-1"),
    ("process without stations", lambda d: d["stations"].pop("machine"),
     "stations.machine", None),
    ("part too heavy for the AGVs", lambda d: d["models"]["BKT-1"][0].update(mass_kg=2500),
     "models.BKT-1[0].mass_kg", 2500),
    ("bad takt", lambda d: d.update(takt_s="fast"), "takt_s", "fast"),
    ("unknown top-level key", lambda d: d.update(shifts=2), "shifts", "shifts"),
]


@pytest.mark.parametrize(("what", "change", "field", "value"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_routing_is_rejected_naming_field_and_value(what: str, change: Any, field: str,
                                                        value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_line(yaml.safe_dump(bad(change)))
    assert info.value.field == field, (what, info.value)
    assert info.value.value == value, (what, info.value)
    assert field.split(".")[-1].split("[")[0] in str(info.value)


def test_stations_are_checked_against_the_floor() -> None:
    floor = load_floor(PLANT_MAP)
    wrong_kind = parse_line(yaml.safe_dump(bad(
        lambda d: d["stations"].update(paint=[["paint-out-1", "paint-in-1"]])))).catalog
    with pytest.raises(InvalidInputError) as info:
        wrong_kind.check_floor(floor)
    assert (info.value.field, info.value.value) == ("stations.paint[0].in", "paint-out-1")
    missing = parse_line(yaml.safe_dump(bad(
        lambda d: d["stations"].update(weld=["weld-1", "weld-9"])))).catalog
    with pytest.raises(InvalidInputError) as info:
        missing.check_floor(floor)
    assert (info.value.field, info.value.value) == ("stations.weld[1]", "weld-9")


def test_unknown_model_is_not_found() -> None:
    catalog = parse_catalog(tiny_doc())
    with pytest.raises(NotFoundError) as info:
        catalog.routing("EX999", field="order.model")
    assert (info.value.field, info.value.value) == ("order.model", "EX999")


def test_relative_floor_is_taken_from_the_line_file(tmp_path: Path) -> None:
    line = load_line(TINY)
    assert Path(line.floor).resolve() == PLANT_MAP.resolve()
