"""gRPC servicers over the generated stubs: validation, status codes, the server."""

from fleet.api.errors import STATUS_OF, describe, status_of
from fleet.api.server import FleetServer, create_server

__all__ = ["STATUS_OF", "FleetServer", "create_server", "describe", "status_of"]
