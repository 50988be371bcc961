"""Turning plans into released path segments, in an order that keeps late robots safe."""

from fleet.traffic.controller import PathSearch, Release, Traffic, check_invariants
from fleet.traffic.reservations import FOREVER, ReservationTable, Visit

__all__ = ["FOREVER", "PathSearch", "Release", "ReservationTable", "Traffic", "Visit",
           "check_invariants"]
