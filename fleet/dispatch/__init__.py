"""Who does what: capability matching and assignment of ready tasks to free robots."""

from fleet.dispatch.nearest import Assignment, Candidate, Job, assign_nearest, capable

__all__ = ["Assignment", "Candidate", "Job", "assign_nearest", "capable"]
