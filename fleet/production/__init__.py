"""Production: product routings, expanding orders into missions, and lines released at a takt.

Pure: routings and line files in, `fleet.model.Mission`s out. The coordinator never sees a
routing; `fleet.api` expands an order (`Missions.SubmitOrder`) and submits its missions.
"""

from fleet.production.expand import MAX_UNITS, Order, expand_order, queued_work, unit_ids
from fleet.production.line import FleetPlan, Line, load_line, parse_line
from fleet.production.routing import Catalog, Center, Operation, Process, Routing, parse_catalog

__all__ = [
    "MAX_UNITS",
    "Catalog",
    "Center",
    "FleetPlan",
    "Line",
    "Operation",
    "Order",
    "Process",
    "Routing",
    "expand_order",
    "load_line",
    "parse_catalog",
    "parse_line",
    "queued_work",
    "unit_ids",
]
