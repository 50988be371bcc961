"""The production-order operation, once for every front end (gRPC `Missions.SubmitOrder`)."""

from __future__ import annotations

from dataclasses import replace

from fleet.coordinator import Coordinator
from fleet.model import (
    AlreadyExistsError,
    InfeasibleError,
    MissionRecord,
    MissionState,
    check_id,
)
from fleet.production import Catalog, Order, expand_order, queued_work

__all__ = ["submit_order"]


def submit_order(c: Coordinator, catalog: Catalog | None, order: Order) -> list[MissionRecord]:
    """Expand an order by the line's routings and submit its units, in unit order; runs on
    the coordinator's worker.

    Idempotent: a unit already stored for this order and model is returned as it stands (so
    an order whose reply was lost, or whose later unit was rejected, can be sent again); a
    unit id taken by anything else is ALREADY_EXISTS.
    """
    if catalog is None:
        raise InfeasibleError("this coordinator serves no production line: start it with "
                              "`fleet serve --line FILE`", field="order.model",
                              value=order.model)
    check_id("order.order_id", order.id)
    now = c.clock.now()
    if order.release_s < now:
        order = replace(order, release_s=now)
    open_missions = c.list_missions([MissionState.ACCEPTED, MissionState.ACTIVE])
    units = expand_order(catalog, order, queued_work(open_missions))
    out = []
    for mission in units:
        stored = c.missions.get(mission.id)
        if stored is not None:
            labels = stored.mission.labels
            if labels.get("order") != order.id or labels.get("model") != order.model:
                raise AlreadyExistsError(f"mission {mission.id!r} exists already and is not "
                                         f"a unit of order {order.id!r} ({order.model})",
                                         field="order.order_id", value=order.id)
            out.append(stored)
            continue
        out.append(c.submit(mission))
    return out
