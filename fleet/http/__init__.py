"""The control center: the live web page, the HTTP/JSON API with Server-Sent Events and the
Prometheus metrics, a second thin front end over the operations of `fleet.api`.

`create_app(server)` builds the Starlette app over a `FleetServer`; `HttpServer` runs it with
uvicorn on the same asyncio loop as the gRPC server. `create_replay_app` serves the same page
over a recorded trajectory log (`fleet view run.jsonl`).
"""

from fleet.http._app import (
    HttpServer,
    check_exposure,
    create_app,
    create_replay_app,
    parse_address,
)
from fleet.http._routes import ROUTES, ApiRoute
from fleet.http._view import FrameFeed, load_replay

__all__ = ["ROUTES", "ApiRoute", "FrameFeed", "HttpServer", "check_exposure", "create_app",
           "create_replay_app", "load_replay", "parse_address"]
