"""Shared fixtures: the shipped maps, and a real coordinator served over loopback gRPC."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).parent.parent / ".numba_cache"))

ROOT = Path(__file__).resolve().parent.parent
SMALL_MAP = ROOT / "maps" / "small.yaml"
PLANT_MAP = ROOT / "maps" / "plant.yaml"


@dataclass
class Served:
    """A coordinator served on loopback from its own event loop in a thread."""

    address: str
    coordinator: object
    loop: asyncio.AbstractEventLoop
    channel: grpc.Channel
    runner: object
    http_url: str = ""
    """The control center's address (with `serve(..., http=True)`), e.g. http://127.0.0.1:8080"""
    server: object = None

    def call(self, fn):  # type: ignore[no-untyped-def]
        """Run `fn()` on the coordinator's worker thread (where its state lives)."""
        return asyncio.run_coroutine_threadsafe(
            self.runner.call(lambda _: fn()), self.loop).result(timeout=10)  # type: ignore[attr-defined]


def serve(map_path: Path, db: str | object, *, sim_clock: bool = True,
          address: str = "127.0.0.1:0", tokens: dict[bytes, object] | None = None,
          tls: tuple[bytes, bytes] | None = None, dispatcher: object = None,
          period_s: float = 0.05, catalog: object = None,
          http: bool = False, declared: tuple[object, ...] = (),
          client_ca: bytes | None = None, insecure: bool = False,
          http_tls: tuple[str, str] | None = None) -> Iterator[Served]:
    """Start a coordinator + server in a thread; yield; stop it. `db` is a store URL or an
    open store; `http_tls` (certificate and key files) serves the control center as HTTPS."""
    from fleet.api import create_server
    from fleet.coordinator import Coordinator, ManualClock, WallClock
    from fleet.floor import load_floor
    from fleet.store import open_store

    loop = asyncio.new_event_loop()
    ready: Future[tuple[object, object, object]] = Future()

    async def start() -> None:
        store = open_store(db) if isinstance(db, str) else db
        coordinator = Coordinator(load_floor(map_path), store,  # type: ignore[arg-type]
                                  ManualClock() if sim_clock else WallClock(),
                                  dispatcher=dispatcher,  # type: ignore[arg-type]
                                  declared=declared)  # type: ignore[arg-type]
        server = create_server(coordinator, address, period_s=period_s,
                               tokens=tokens, tls=tls, catalog=catalog,  # type: ignore[arg-type]
                               client_ca=client_ca, insecure=insecure)
        await server.start()
        web = None
        if http:
            from fleet.http import HttpServer, create_app
            web = HttpServer(create_app(server), tls=http_tls)  # type: ignore[arg-type]
            await web.start()
        ready.set_result((coordinator, server, web))

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    coordinator, server, web = ready.result()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")  # type: ignore[attr-defined]
    try:
        yield Served(f"127.0.0.1:{server.port}", coordinator, loop, channel,  # type: ignore[attr-defined]
                     server.runner,  # type: ignore[attr-defined]
                     web.url.rstrip("/") if web else "", server)  # type: ignore[attr-defined]
    finally:
        channel.close()
        if web is not None:
            asyncio.run_coroutine_threadsafe(web.stop(), loop).result(timeout=10)  # type: ignore[attr-defined]
        asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(timeout=10)  # type: ignore[attr-defined]
        coordinator.store.close()  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[Served]:
    """A coordinator on the small map, simulated clock, fresh SQLite store."""
    yield from serve(SMALL_MAP, str(tmp_path / "fleet.db"))


POSTGRES_URL = os.environ.get("FLEET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
"""The PostgreSQL server the store tests use (CI machines run one; see FACTS.md)."""


def postgres_schema_url() -> Iterator[str]:
    """A store URL on a fresh schema of the test PostgreSQL, dropped afterwards; skips, saying
    why, when no server answers (a laptop without PostgreSQL)."""
    psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} (set FLEET_TEST_POSTGRES): {err}")
    schema = f"fleet_test_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


def postgres_store() -> Iterator[object]:
    """An open PostgresStore on a fresh schema, closed and dropped afterwards."""
    from fleet.store.postgres import PostgresStore

    for url in postgres_schema_url():
        with PostgresStore(url) as store:
            yield store


def assert_clean_log(path: Path | str) -> object:
    """Check a trajectory log with the independent checker: no collision, no obstacle hit, no
    speed violation. Returns the report for further checks."""
    from sim.check import check_log

    report = check_log(path)
    assert report.ok and not report.collisions, (report.collisions[:3],
                                                  report.obstacle_hits[:3],
                                                  report.speed_violations[:3])
    return report
