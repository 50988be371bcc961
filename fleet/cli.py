"""The `fleet` command: serve, simulate, check, and talk to a running coordinator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import json
import logging
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleet.vda5050.master import MasterOptions

__all__ = ["main"]

log = logging.getLogger("fleet")

BUILTIN_MAPS = ("plant", "small", "warehouse")
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def map_path(name: str) -> str:
    """A map file path: a path as given, or the name of a map shipped with fleet."""
    if name in BUILTIN_MAPS:
        shipped = resources.files("fleet") / "_maps" / f"{name}.yaml"
        if shipped.is_file():
            return str(shipped)
        source = Path(__file__).resolve().parent.parent / "maps" / f"{name}.yaml"
        if source.is_file():
            return str(source)
    return name


BUILTIN_LINES = ("plant",)


def line_path(name: str) -> str:
    """A line file path: a path as given, or the name of a line shipped with fleet."""
    if name in BUILTIN_LINES:
        shipped = resources.files("fleet") / "_lines" / f"{name}.yaml"
        if shipped.is_file():
            return str(shipped)
        source = Path(__file__).resolve().parent.parent / "lines" / f"{name}.yaml"
        if source.is_file():
            return str(source)
    return name


def _int_range(text: str) -> list[int]:
    """A range option: N, A..B (inclusive) or A..B:STEP."""
    try:
        if ".." not in text:
            return [int(text)]
        first, rest = text.split("..", 1)
        last, _, step = rest.partition(":")
        values = list(range(int(first), int(last) + 1, int(step or 1)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N, A..B or A..B:STEP") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is an empty range")
    return values


def _parser() -> argparse.ArgumentParser:
    # No abbreviations: argparse matches prefixes against the top-level options before it
    # hands the rest to the subcommand, so `fleet sim --log FILE` would be "ambiguous"
    # between the global --log-level and --log-format.
    p = argparse.ArgumentParser(prog="fleet", description=__doc__, allow_abbrev=False)
    p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="text lines, or one JSON object per line (default text); either way "
                        "every message is escaped")
    # Also accepted after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--log-format", default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                        choices=("text", "json"))
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", parents=[common], help="run the coordinator")
    s.add_argument("--map", default="plant", help="floor map YAML, or a shipped map name")
    s.add_argument("--db", default="fleet.db",
                   help="SQLite file, or a store URL: sqlite:///path.db, "
                        "postgresql://user@host/database[?schema=NAME] (needs fleet[postgres])")
    s.add_argument("--address", default="127.0.0.1:50051",
                   help="HOST:PORT to serve gRPC on (default 127.0.0.1:50051)")
    s.add_argument("--tokens", metavar="YAML",
                   help="access tokens with roles (see fleet/api/auth.py); without it the "
                        "server is open to anyone who reaches the port")
    s.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate chain")
    s.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    s.add_argument("--client-ca", metavar="PEM", default="",
                   help="mutual TLS: every client presents a certificate this CA signed; one "
                        "naming robots (fleet:robot:PATTERN) speaks for them (see fleet certs)")
    s.add_argument("--insecure", action="store_true",
                   help="serve beyond loopback without tokens or client certificates "
                        "(refused otherwise)")
    s.add_argument("--http", metavar="HOST:PORT", default="",
                   help="also serve the control center (web page, HTTP/JSON API, /metrics) "
                        "here, e.g. 127.0.0.1:8080; HTTPS with --tls-cert; beyond loopback "
                        "it needs --tokens (or --insecure)")
    s.add_argument("--sim-clock", action="store_true",
                   help="let a simulator drive the clock (SimClock.Advance)")
    s.add_argument("--fleet", metavar="YAML", default="",
                   help="the declared fleet: robot kinds and capabilities missions may need "
                        "before those robots first register (see fleet/coordinator/declared.py)")
    _dispatcher_option(s)
    s.add_argument("--line", metavar="LINE",
                   help="serve this production line's routings (Missions.SubmitOrder): a "
                   "line file or a shipped line's name (plant)")
    s.add_argument("--ros", action="store_true",
                   help="also run the ROS 2 bridge in this process (needs fleet[ros])")
    _bridge_options(s)
    s.add_argument("--vda5050", nargs="?", const=DEFAULT_BROKER, default="",
                   metavar="mqtt://HOST[:PORT][/INTERFACE]",
                   help="also run the VDA 5050 master in this process: vehicles on this "
                   "broker join the fleet (default: off; the flag alone: %(const)s, "
                   "interface uagv; needs fleet[vda5050])")
    s.add_argument("--vda5050-vehicles", metavar="FILE", default="",
                   help="with --vda5050: vehicles known in advance (as fleet vda5050 "
                   "--vehicles); others join from their factsheets")

    s = sub.add_parser("sim", parents=[common], help="simulate a fleet finishing missions")
    s.add_argument("--map", default="plant", help="floor map YAML, or a shipped map name")
    s.add_argument("--robots", type=int, default=10, help="robots in the simulated fleet")
    s.add_argument("--missions", type=int, default=30, help="missions to generate")
    s.add_argument("--seed", type=int, default=1, help="seed of the fleet and missions")
    s.add_argument("--log", help="write the trajectory log (JSON Lines) here")
    s.add_argument("--http", metavar="HOST:PORT", default="",
                   help="serve the control center here while the simulation runs (not with "
                        "--server: open that coordinator's own); beyond loopback only with "
                        "--insecure")
    s.add_argument("--insecure", action="store_true",
                   help="let --http listen beyond loopback, open to anyone who reaches it")
    s.add_argument("--pace", type=float, default=0.0, metavar="FACTOR",
                   help="simulated seconds per wall second, to watch it live (default: as "
                        "fast as it goes)")
    s.add_argument("--plot", help="draw floor and trajectories to this PNG")
    s.add_argument("--server", help="drive a running coordinator (started with --sim-clock)")
    s.add_argument("--pipelined", action="store_true",
                   help="robots drive the next control period while the coordinator steps "
                        "and get its commands one period late: with --server, the robots "
                        "and the coordinator run on two cores (gRPC robots only)")
    s.add_argument("--db", help="store for the coordinator sim starts (default: temporary)")
    s.add_argument("--time-limit", type=float, default=6 * 3600.0,
                   help="stop after this many simulated seconds")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--ros", action="store_true",
                   help="robots are ROS 2 nodes' topics relayed by a bridge (needs fleet[ros]); "
                   "without --server the bridge runs in this process")
    s.add_argument("--vda5050", nargs="?", const=DEFAULT_BROKER, default="",
                   metavar="mqtt://HOST:PORT",
                   help="robots are VDA 5050 vehicles on this MQTT broker (default "
                   "%(const)s), relayed by a master in this process "
                   "(needs fleet[vda5050])")
    s.add_argument("--vda5050-visualization", type=float, default=0.0, metavar="HZ",
                   help="with --vda5050: vehicles also publish their position on "
                   "visualization this often, simulated time (default 0: never; at most "
                   "once per 0.1 s step)")
    s.add_argument("--delays", type=float, default=0.0, metavar="PER_HOUR",
                   help="hold moving robots up 5-30 s, this often per robot-hour")
    s.add_argument("--stop", action="append", default=[], metavar="ROBOT@SECONDS",
                   help="break a robot down for good once it drives in an aisle after this time")
    _dispatcher_option(s)
    s.add_argument("--restart-robot", action="append", default=[], metavar="ID@SECONDS",
                   help="fault injection: restart this robot's driver at this simulated time")
    s.add_argument("--external-robots", action="store_true",
                   help="with --ros: the robots run in `fleet sim-robots` processes; this one "
                   "drives the clock, submits the missions and writes the trajectory log")
    s.add_argument("--line", metavar="LINE",
                   help="simulate a production line instead of a mission mix: orders released "
                   "at its takt through SubmitOrder, its fleet (a line file or a shipped "
                   "line's name: plant)")
    s.add_argument("--agvs", type=int, help="with --line: AGVs (default: the line's)")
    s.add_argument("--welders", type=int, help="with --line: welders (default: the line's)")
    s.add_argument("--units", type=int, help="with --line: units to measure (default: the "
                   "line's)")
    s.add_argument("--warm-up", type=int, default=0, metavar="UNITS",
                   help="with --line: units released before the measured ones (default 0)")
    s.add_argument("--cool-down", type=int, default=0, metavar="UNITS",
                   help="with --line: units released after the measured ones (default 0)")
    s.add_argument("--gantt", metavar="PNG", help="with --line: draw a Gantt chart of "
                   "stations and robots here")
    s.add_argument("--robot-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="with --external-robots: hold a robot process's robots where they "
                   "stand when it has not answered a tick within this time (default 10)")
    s.add_argument("--per-robot-streams", action="store_true",
                   help="each gRPC robot opens a RobotLink stream of its own, as a robot's "
                   "own driver does (default: all share one batched gateway stream)")

    s = sub.add_parser("sim-robots", parents=[common],
                       help="simulated robots in a process of their own: with --server, gRPC "
                       "robots on the wall clock against a `fleet serve`; without, ROS 2 "
                       "robots stepped by a `fleet sim --ros --external-robots` world")
    s.add_argument("--map", default="plant", help="floor (default plant)")
    s.add_argument("--robots", type=int, default=10,
                   help="size of the fleet the robots are taken from (default 10)")
    s.add_argument("--seed", type=int, default=1, help="the fleet's seed (default 1)")
    s.add_argument("--only", action="append", default=[], metavar="ROBOT_ID",
                   help="run only this robot of the fleet (repeatable; default: all)")
    s.add_argument("--part", default="", metavar="K/N",
                   help="run only every N-th robot of the fleet from the K-th (1 <= K <= N): "
                   "N processes with parts 1/N .. N/N run the whole fleet")
    s.add_argument("--server", default="",
                   help="a coordinator on the wall clock, HOST:PORT: the robots connect over "
                   "one batched gRPC gateway stream and run in real time (token and TLS as "
                   "for fleet sim)")
    s.add_argument("--rate", type=float, default=10.0,
                   help="with --server: state reports per second per robot (default 10)")
    s.add_argument("--state", default="", metavar="FILE",
                   help="with --server: keep the robots' state here, so that a restarted "
                   "process takes them up where they stood (default: none)")
    s.add_argument("--per-robot-streams", action="store_true",
                   help="with --server: one RobotLink stream per robot instead of one "
                   "gateway stream for all")
    s.add_argument("--log", default="", metavar="JSONL",
                   help="with --server: write the robots' trajectory log here (Unix times; "
                   "python -m sim.check reads it; default: none)")
    s.add_argument("--stats", default="", metavar="JSON",
                   help="with --server: write what the robots did here when they stop "
                   "(states sent, late ticks, release waits; default: none)")
    s.add_argument("--command-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="wait at most this long for a step's commands before a tick")

    s = sub.add_parser("size", parents=[common],
                       help="fleet sizing: simulate a line over fleet sizes and seeds")
    s.add_argument("--line", default="plant", help="line file or shipped line (plant)")
    s.add_argument("--takt", type=float, help="takt to hold, s (default: the line's)")
    s.add_argument("--agvs", type=_int_range, default=[4, 6, 8], metavar="A..B",
                   help="AGV counts: N, A..B or A..B:STEP (default 4..8:2)")
    s.add_argument("--welders", type=_int_range, default=[2, 3], metavar="A..B",
                   help="welder counts (default 2..3)")
    s.add_argument("--seeds", type=int, default=3, help="seeds per fleet (default 3: 1..3)")
    s.add_argument("--units", type=int, help="units measured per run (default: the line's)")
    s.add_argument("--warm-up", type=int, default=5, metavar="UNITS",
                   help="units released before the measured ones, to fill the line "
                   "(default 5)")
    s.add_argument("--cool-down", type=int, default=5, metavar="UNITS",
                   help="units released after the measured ones, so the last of them meet "
                   "a line still fed (default 5)")
    s.add_argument("--margin", type=float, default=0.1,
                   help="hold the takt shortened by this share (default 0.1)")
    s.add_argument("--workers", type=int, help="processes (default: every core)")
    s.add_argument("--cluster", metavar="ADDRESS",
                   help="run on this Dask scheduler (tcp://host:8786; needs fleet[cluster])")
    s.add_argument("--plot", metavar="PNG", help="plot takt achieved against fleet size")

    s = sub.add_parser("vda5050", parents=[common],
                       help="VDA 5050 master: vehicles on an MQTT broker join a coordinator "
                       "(needs fleet[vda5050])")
    s.add_argument("--broker", default=DEFAULT_BROKER,
                   help="mqtt://HOST[:PORT][/INTERFACE] (default %(default)s, interface "
                   "name uagv)")
    s.add_argument("--server", default="127.0.0.1:50051", help="the coordinator, HOST:PORT")
    s.add_argument("--vehicles", metavar="FILE",
                   help="vehicles known in advance (YAML: vehicles: [{manufacturer, "
                   "serial_number, robot_id, kind, ...}])")
    s.add_argument("--no-discover", action="store_true",
                   help="relay only the vehicles of --vehicles, not those found by factsheet")
    s.add_argument("--silence-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="end a vehicle's link after this long without a state")

    s = sub.add_parser("ros-bridge", help="relay ROS 2 robots to a coordinator (needs fleet[ros])")
    s.add_argument("--server", default="127.0.0.1:50051", help="the coordinator, HOST:PORT")
    _bridge_options(s)

    s = sub.add_parser("view", parents=[common],
                       help="replay a trajectory log in the control center's page")
    s.add_argument("log", help="trajectory log (JSON Lines) of fleet sim --log")
    s.add_argument("--map", help="floor YAML (default: the one the log names)")
    s.add_argument("--http", metavar="HOST:PORT", default="127.0.0.1:8080",
                   help="where to serve the page (default 127.0.0.1:8080)")

    s = sub.add_parser("check-log", parents=[common], help="check a trajectory log for collisions")
    s.add_argument("log", help="trajectory log (JSON Lines) of fleet sim --log")
    s.add_argument("--map", help="floor YAML (default: the one the log names)")

    s = sub.add_parser("certs", parents=[common],
                       help="write a development PKI: a plant CA, a server certificate and "
                            "client certificates (gateway, robot-agv-1, planner, operator)")
    s.add_argument("dir", help="folder to write the PEM files into (created if missing)")
    s.add_argument("--host", action="append", default=[],
                   help="a name or address the server certificate is valid for (repeat; "
                        "default: localhost and 127.0.0.1)")

    s = sub.add_parser("map", parents=[common], help="validate a floor map and list its stations")
    s.add_argument("map", help="floor map YAML, or a shipped map name (plant, small, warehouse)")

    client = argparse.ArgumentParser(add_help=False, parents=[common])
    client.add_argument("--server", default="127.0.0.1:50051",
                        help="the coordinator, HOST:PORT (default 127.0.0.1:50051)")
    client.add_argument("--token", default=None,
                        help="access token (default: $FLEET_TOKEN; see fleet serve --tokens)")
    client.add_argument("--tls-ca", default=None, metavar="PEM",
                        help="CA certificate to check the server's TLS certificate "
                             "(default: $FLEET_TLS_CA; plain TCP when unset)")
    for name, helptext in (("robots", "list robots"), ("missions", "list missions")):
        s = sub.add_parser(name, parents=[client], help=helptext)
    s = sub.add_parser("submit", parents=[client],
                       help="submit missions: one JSON object, a JSON list, or JSON Lines")
    s.add_argument("file", help="file of missions in the MissionSpec JSON, - for stdin")
    s = sub.add_parser("get", parents=[client],
                       help="show a mission: its tasks, robots, times and progress")
    s.add_argument("mission_id", help="the mission")
    s = sub.add_parser("order", parents=[client],
                       help="submit a production order: COUNT units of MODEL by the routings "
                       "of the line the coordinator serves")
    s.add_argument("model", help="the model, as the line's routings name it")
    s.add_argument("--count", type=int, default=1, help="units to build")
    s.add_argument("--order-id", default="", help="default: order-<time>")
    s.add_argument("--release", type=float, default=0.0,
                   help="release time, coordinator-clock s (default now)")
    s.add_argument("--deadline", type=float, default=0.0,
                   help="deadline of every unit, coordinator-clock s (default none)")
    s.add_argument("--priority", type=int, default=0, help="higher runs first")
    s = sub.add_parser("cancel", parents=[client], help="cancel a mission")
    s.add_argument("mission_id", help="the mission")
    s.add_argument("--reason", default="cancelled from the CLI",
                   help="why, recorded in the event log")
    s = sub.add_parser("pause", parents=[client],
                       help="hold a robot where it is; its unstarted tasks go to others")
    s.add_argument("robot_id", help="the robot")
    s.add_argument("--reason", default="paused from the CLI",
                   help="why, shown to other operators (at most 200 characters)")
    s = sub.add_parser("resume", parents=[client], help="release a paused robot")
    s.add_argument("robot_id", help="the robot")
    s = sub.add_parser("watch", parents=[client], help="print mission events as they happen")
    s.add_argument("--mission", default="", help="only this mission's events (default: all)")
    s.add_argument("--json", action="store_true",
                   help="print each event as a JSON object instead of plain words")

    s = sub.add_parser("mapf", help="solve a MovingAI MAPF instance (LaCAM)")
    s.add_argument("--map", required=True,
                   help="MovingAI .map file, or a floor map .yaml (its grid, one-way zones "
                        "honoured; scen x = column, y = row from the floor's lowest y)")
    s.add_argument("--scen", required=True, help="MovingAI .scen file")
    s.add_argument("--agents", type=int, required=True, help="first N tasks of the scen")
    s.add_argument("--out", help="write the LaCAM result format here")
    s.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    s.add_argument("--refine-time", type=float, default=2.0,
                   help="seconds spent shortening the first solution (default 2)")
    s.add_argument("--seed", type=int, default=0, help="seed of the solver")
    s.add_argument("--check", action="store_true", help="verify with the independent checker")

    s = sub.add_parser("lifelong", help="run a League of Robot Runners problem")
    s.add_argument("--problem", required=True,
                   help="LoRR problem .json (its mapFile may be a floor map .yaml, whose "
                        "one-way zones are honoured)")
    s.add_argument("--steps", type=int, required=True, help="simulated steps to run")
    s.add_argument("--out", help="write the stats as JSON here")
    s.add_argument("--time-limit-per-step", type=float, default=1.0,
                   help="count steps whose planning took longer (seconds, default 1)")
    s.add_argument("--seed", type=int, default=0, help="seed of the planner and delays")
    s.add_argument("--no-delays", action="store_true", help="ignore the delay model")
    s.add_argument("--no-rotations", action="store_true",
                   help="agents move in any direction without turning first (LoRR's action "
                        "model has them turn a quarter per step to face their move)")
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for parser in action.choices.values():
                parser.formatter_class = _DefaultsHelp
    return p


class _DefaultsHelp(argparse.HelpFormatter):
    """Help that shows every option's default, unless its text says it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" not in text and action.option_strings
                and action.default not in (None, False, "", [], argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


def _robot_times(option: str, items: Sequence[str]) -> list[tuple[str, float]] | None:
    """ROBOT@SECONDS values of a fault-injection option; None (after saying why) if bad."""
    out = []
    for item in items:
        robot_id, _, when = item.partition("@")
        try:
            out.append((robot_id, float(when)))
        except ValueError:
            print(f"fleet: {option} {item!r}: expected ROBOT@SECONDS", file=sys.stderr)
            return None
    return out


DISPATCHERS = ("optimal", "schedule", "nearest")


def _dispatcher_option(s: argparse.ArgumentParser) -> None:
    s.add_argument("--dispatcher", choices=DISPATCHERS, default=None,
                   help="optimal: Hungarian assignment with queues, deadlines, batteries "
                        "(default; with --line: schedule); schedule: an optimized schedule "
                        "of all known work over a rolling horizon (large-neighbourhood "
                        "search); nearest: the greedy nearest-free-robot baseline")
def _bridge_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--robots-file", metavar="FILE",
                   help="ROS robots known in advance (YAML: robots: [robot_info, ...])")
    s.add_argument("--no-discover", action="store_true",
                   help="relay only the robots of --robots, do not look for robot_info topics")
    s.add_argument("--silence-timeout", type=float, default=3.0, metavar="SECONDS",
                   help="close a ROS robot's stream after this long without odometry")
    s.add_argument("--ros-executor", choices=("events", "single"), default="events",
                   help="rclpy executor of the bridge's node (default: events, the faster)")


def _bridge(args: argparse.Namespace, target: str,  # type: ignore[no-untyped-def]
            silence_timeout_s: float | None = None):
    """A RosBridge for these arguments; a plain error if the ROS extra is missing."""
    try:
        from fleet.ros.bridge import BridgeOptions, RosBridge, load_robots_file
    except ImportError as err:
        raise OSError(f"the ROS 2 bridge needs rclpy: pip install 'fleet[ros]' or source a "
                      f"ROS 2 installation ({err})") from err
    from fleet.model import InvalidInputError

    path = getattr(args, "robots_file", None)
    try:
        robots = load_robots_file(path) if path else ()
    except ValueError as err:
        raise InvalidInputError(str(err), field="robots-file", value=path) from err
    if silence_timeout_s is None:
        silence_timeout_s = float(getattr(args, "silence_timeout", 3.0))
    return RosBridge(BridgeOptions(
        target=target, robots=robots, discover=not getattr(args, "no_discover", False),
        silence_timeout_s=silence_timeout_s,
        executor=getattr(args, "ros_executor", "events")))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fleet` console command."""
    args = _parser().parse_args(argv)
    from fleet.logs import LogFormat, configure_logging
    configure_logging(args.log_level, LogFormat(args.log_format))
    try:
        if args.command == "serve":
            return asyncio.run(_serve(args))
        if args.command == "sim" and args.line:
            return _sim_line(args)
        if args.command == "sim":
            return asyncio.run(_sim(args))
        if args.command == "size":
            return _size(args)
        if args.command == "vda5050":
            return asyncio.run(_vda5050(args))
        if args.command == "ros-bridge":
            return asyncio.run(_ros_bridge(args))
        if args.command == "sim-robots":
            return asyncio.run(_sim_robots(args))
        if args.command == "view":
            return asyncio.run(_view(args))
        if args.command == "check-log":
            return _check_log(args)
        if args.command == "map":
            return _map(args)
        if args.command == "certs":
            return _certs(args)
        if args.command == "mapf":
            return _mapf(args)
        if args.command == "lifelong":
            return _lifelong(args)
        return asyncio.run(_client(args))
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the command's last word: say it plainly, not as a traceback
        import grpc

        from fleet.model import FleetError
        if isinstance(err, FleetError | OSError):
            print(f"fleet: {err}", file=sys.stderr)
            return 2
        if isinstance(err, grpc.aio.AioRpcError):
            print(f"fleet: {err.code().name}: {err.details()}", file=sys.stderr)
            return 2
        raise


def _coordinator(map_file: str, db: str, sim_clock: bool,  # type: ignore[no-untyped-def]
                 dispatcher: str = "optimal", fleet_file: str = ""):
    from fleet.coordinator import Coordinator, ManualClock, WallClock, load_fleet
    from fleet.dispatch import make_dispatcher
    from fleet.floor import load_floor
    from fleet.planning import warm_up
    from fleet.store import open_store

    warm_up()
    floor = load_floor(map_file)
    store = open_store(db)
    clock = ManualClock() if sim_clock else WallClock()
    chosen = make_dispatcher(dispatcher or "optimal")
    declared = load_fleet(fleet_file, floor) if fleet_file else ()
    return Coordinator(floor, store, clock, dispatcher=chosen, declared=declared)


def _certs(args: argparse.Namespace) -> int:
    from fleet.api.certs import write_dev_pki

    written = write_dev_pki(args.dir, hosts=args.host or ("localhost", "127.0.0.1"))
    for path in written:
        print(path)
    print(f"serve with: fleet serve --tls-cert {args.dir}/server.pem --tls-key "
          f"{args.dir}/server.key --client-ca {args.dir}/ca.pem")
    return 0


async def _serve(args: argparse.Namespace) -> int:
    from fleet._cli_client import check_listen_address
    from fleet.api import create_server
    from fleet.api.auth import Principal, load_tokens
    from fleet.model import InvalidInputError

    check_listen_address("--address", args.address)
    tokens = load_tokens(args.tokens) if args.tokens else None
    tls = None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InvalidInputError("--tls-cert and --tls-key go together", field="tls-key",
                                value=args.tls_key)
    if args.tls_cert:
        try:
            tls = (Path(args.tls_cert).read_bytes(), Path(args.tls_key).read_bytes())
        except OSError as err:
            raise InvalidInputError(f"TLS file {err.filename!r}: {err.strerror}",
                                    field="tls-cert", value=err.filename) from err
    if args.ros and tls is not None:
        raise InvalidInputError("--ros runs the bridge inside a TLS server; run it as its own "
                                "process instead (fleet ros-bridge, FLEET_TLS_CA)",
                                field="ros", value=True)
    if args.vda5050 and tls is not None:
        raise InvalidInputError("--vda5050 runs the master inside a TLS server; run it as its "
                                "own process instead (fleet vda5050, FLEET_TLS_CA)",
                                field="vda5050", value=args.vda5050)
    if args.vda5050_vehicles and not args.vda5050:
        raise InvalidInputError("--vda5050-vehicles needs --vda5050", field="vda5050-vehicles",
                                value=args.vda5050_vehicles)
    # Checked before the server starts: a wrong broker URL or vehicles file is a plain error.
    master_options = _vda_options(args.vda5050, "", args.vda5050_vehicles,
                                  True) if args.vda5050 else None
    catalog = None
    if args.line:
        from fleet.production import load_line
        catalog = load_line(line_path(args.line)).catalog
    coordinator = _coordinator(map_path(args.map), args.db, args.sim_clock, args.dispatcher,
                               args.fleet)
    client_ca = None
    if args.client_ca:
        try:
            client_ca = Path(args.client_ca).read_bytes()
        except OSError as err:
            raise InvalidInputError(f"client CA file {err.filename!r}: {err.strerror}",
                                    field="client-ca", value=err.filename) from err
    server = create_server(coordinator, args.address, tokens=tokens, tls=tls, catalog=catalog,
                           client_ca=client_ca, insecure=args.insecure)
    # What was built so far (the map, its tables, the compiled kernels, the replayed state)
    # lives as long as the server: out of the garbage collector's full passes, which then
    # cost what the live fleet allocates (a full pass over it all stops every thread).
    gc.freeze()
    await server.start()
    https = (args.tls_cert, args.tls_key) if args.tls_cert else None
    if args.http:
        _check_http(server, args.http, args.insecure)
    http = await _start_http(server, args.http, https) if args.http else None
    bridge = None
    if args.ros:
        if tokens is not None:
            # The in-process bridge gets a robot token of its own, known only to this process.
            inner = secrets.token_urlsafe(32)
            tokens[hashlib.sha256(inner.encode()).digest()] = Principal(
                "in-process ROS bridge", frozenset({"robot"}))
            os.environ["FLEET_TOKEN"] = inner
        bridge = _bridge(args, f"127.0.0.1:{server.port}")
        await bridge.start()
    master = None
    if master_options is not None:
        # The master in this process is the one `fleet vda5050` runs, on a loopback link
        # to this server: the same RobotLink contract, one code path.
        from fleet.vda5050.master import Vda5050Master

        token = ""
        if tokens is not None:
            # A robot token of its own, known only to this process.
            token = secrets.token_urlsafe(32)
            tokens[hashlib.sha256(token.encode()).digest()] = Principal(
                "in-process VDA 5050 master", frozenset({"robot"}))
        master = Vda5050Master(dataclasses.replace(
            master_options, target=_loopback_target(args.address, server.port), token=token))
        await master.start()
    print(f"fleet: serving {coordinator.floor.name} on port {server.port} "
          f"({'simulated' if args.sim_clock else 'wall'} clock, store {args.db}"
          f"{', ROS 2 bridge' if bridge else ''}"
          f"{f', VDA 5050 master on {args.vda5050}' if master else ''})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if master is not None:
        await master.stop()
    if bridge is not None:
        await bridge.stop()
    if http is not None:
        await http.stop()
    await server.stop()
    coordinator.store.close()
    return 0


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[object]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("[bold]missions"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("t={task.fields[t]:.0f} s"), transient=True) as bar:
        task = bar.add_task("missions", total=total, t=0.0)

        def update(done: int, total_: int, t: float) -> None:
            bar.update(task, completed=done, t=t)
        yield update


async def _sim(args: argparse.Namespace) -> int:
    import random

    from fleet.floor import load_floor
    from sim.plot import plot_run
    from sim.runner import SimOptions, run_simulation
    from sim.scenario import make_scenario

    map_file = map_path(args.map)
    floor = load_floor(map_file)
    scenario = make_scenario(floor, args.robots, args.missions, args.seed)
    random.seed(args.seed)
    server = None
    coordinator = None
    target = args.server
    tmpdir = None
    if target is None:
        from fleet.api import create_server
        if args.db is None:
            tmpdir = tempfile.TemporaryDirectory(prefix="fleet-sim-")
            db = os.path.join(tmpdir.name, "fleet.db")
        else:
            db = args.db
        coordinator = _coordinator(map_file, db, sim_clock=True, dispatcher=args.dispatcher)
        server = create_server(coordinator, "127.0.0.1:0")
        await server.start()
        target = f"127.0.0.1:{server.port}"
    http = None
    if args.http:
        if server is None:
            print("fleet: --http with --server: start that coordinator with --http instead",
                  file=sys.stderr)
            return 2
        print(f"fleet: coordinator on port {server.port}", flush=True)
        try:
            _check_http(server, args.http, insecure=args.insecure)
            http = await _start_http(server, args.http)
        except BaseException:
            await server.stop(0.5)
            raise
    stops = _robot_times("--stop", args.stop)
    restarts = _robot_times("--restart-robot", args.restart_robot)
    if stops is None or restarts is None:
        return 2
    if args.external_robots and args.server is None:
        print("fleet: --external-robots needs --server: a coordinator started with "
              "--sim-clock and a `fleet ros-bridge` beside it", file=sys.stderr)
        return 2
    options = SimOptions(target=target, map_path=map_file, log_path=args.log,
                         time_limit_s=args.time_limit, seed=args.seed,
                         delays_per_hour=args.delays, stops=tuple(stops), ros=args.ros,
                         restarts=tuple(restarts), external_robots=args.external_robots,
                         robot_timeout_s=args.robot_timeout, pace=args.pace,
                         per_robot_streams=args.per_robot_streams, vda5050=args.vda5050,
                         pipelined=args.pipelined,
                         vda_visualization_hz=args.vda5050_visualization)
    bridge = None
    try:
        if args.ros and args.server is None:
            # Lockstep robots speak once per tick: a slow planning step is not silence.
            bridge = _bridge(args, target, silence_timeout_s=30.0)
            await bridge.start()
        with _progress_bar(len(scenario.missions),
                           sys.stderr.isatty() and not args.no_progress) as update:
            result = await run_simulation(floor, scenario, options, update)  # type: ignore[arg-type]
    finally:
        if bridge is not None:
            await bridge.stop()
        if http is not None:
            await http.stop()
        if server is not None:
            await server.stop(0.5)
        if coordinator is not None:
            coordinator.store.close()
        if tmpdir is not None:
            tmpdir.cleanup()
    print(result.summary())
    if args.plot:
        plot_run(result.log_path, args.plot, floor_yaml=map_file)
        print(f"picture           {args.plot}")
    return 0 if result.ok else 1


def _loopback_target(address: str, port: int) -> str:
    """Where a client in this process reaches a server listening on `address` (its host,
    or 127.0.0.1 when it listens on every interface) at the port it bound."""
    host = address.rsplit(":", 1)[0] if ":" in address else address
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def _vda_options(broker: str, target: str, vehicles_file: str, discover: bool,
                 silence_timeout_s: float = 5.0) -> MasterOptions:
    """The options of the VDA 5050 master of `fleet vda5050` and `fleet serve --vda5050`;
    a plain error if the extra is missing or an option is wrong."""
    from fleet.model import InvalidInputError

    try:
        from fleet.vda5050.master import MasterOptions, load_vehicles_file, parse_broker
    except ImportError as err:
        raise OSError(f"the VDA 5050 master needs pip install 'fleet[vda5050]' ({err})") from err
    try:
        parse_broker(broker)
    except ValueError as err:
        raise InvalidInputError(str(err), field="broker", value=broker) from err
    try:
        vehicles = load_vehicles_file(vehicles_file) if vehicles_file else ()
    except OSError as err:
        raise InvalidInputError(f"vehicles file {vehicles_file!r}: {err.strerror or err}",
                                field="vehicles", value=vehicles_file) from err
    except ValueError as err:
        raise InvalidInputError(str(err), field="vehicles", value=vehicles_file) from err
    return MasterOptions(broker=broker, target=target, vehicles=vehicles, discover=discover,
                         silence_timeout_s=silence_timeout_s)


async def _vda5050(args: argparse.Namespace) -> int:
    from fleet.vda5050.master import Vda5050Master

    master = Vda5050Master(_vda_options(args.broker, args.server, args.vehicles or "",
                                        not args.no_discover, args.silence_timeout))
    await master.start()
    print(f"fleet: VDA 5050 master relaying vehicles on {args.broker} to {args.server}",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    stats = master.stats
    await master.stop()
    print(f"fleet: master stopped: {stats.states_forwarded} states forwarded, "
          f"published {dict(stats.published)}, {stats.joins} joins, {stats.restarts} vehicle "
          f"restarts, {stats.resends} resends, dropped {dict(stats.dropped)}", flush=True)
    return 0


async def _ros_bridge(args: argparse.Namespace) -> int:
    bridge = _bridge(args, args.server)
    await bridge.start()
    print(f"fleet: ROS 2 bridge relaying robots to {args.server}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    stats = bridge.stats
    await bridge.stop()
    print(f"fleet: bridge stopped: {stats.states_forwarded} states forwarded, "
          f"{stats.commands_published} commands published, {stats.registrations} "
          f"registrations, {stats.restarts} robot restarts, {stats.silent_closes} silent "
          f"robots, dropped {dict(stats.dropped)}", flush=True)
    return 0


async def _wall_robots(args: argparse.Namespace, fleet: list[Any]) -> int:
    from fleet.model import InvalidInputError
    from sim.wall_robots import WallOptions, run_wall_robots

    if not (0 < args.rate <= 100):
        raise InvalidInputError(f"--rate {args.rate} must be in (0, 100] per second",
                                field="rate", value=args.rate)
    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(run_wall_robots(fleet, WallOptions(
        args.server, args.rate, args.state or None,
        per_robot_streams=args.per_robot_streams, log_path=args.log or None,
        map_path=map_path(args.map)), stop, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set():
        print(f"fleet: {len(fleet)} simulated robots connected to {args.server} "
              f"({', '.join(s.id for s, _ in fleet[:5])}{', ...' if len(fleet) > 5 else ''})",
              flush=True)
    stats = await task
    waiter.cancel()
    print(f"fleet: {stats.ticks} ticks, {stats.states_sent} states sent, {stats.commands} "
          f"commands, {stats.late_ticks} late ticks", flush=True)
    if args.stats:
        import dataclasses

        Path(args.stats).write_text(json.dumps(dataclasses.asdict(stats)), encoding="utf-8")
    return 0


async def _sim_robots(args: argparse.Namespace) -> int:
    import random

    from fleet.floor import load_floor
    from fleet.model import InvalidInputError
    from sim.scenario import make_fleet

    fleet = make_fleet(load_floor(map_path(args.map)), args.robots, random.Random(args.seed))
    ids = [spec.id for spec, _ in fleet]
    unknown = sorted(set(args.only) - set(ids))
    if unknown:
        raise InvalidInputError(f"--only {unknown}: not in the fleet of {args.robots} robots "
                                f"with seed {args.seed} ({', '.join(ids)})", field="only",
                                value=unknown)
    if args.part:
        part, _, parts = args.part.partition("/")
        if not (part.isdigit() and parts.isdigit() and 1 <= int(part) <= int(parts)):
            raise InvalidInputError(f"--part {args.part!r}: give K/N with 1 <= K <= N",
                                    field="part", value=args.part)
        fleet = fleet[int(part) - 1::int(parts)]
    if args.server:
        return await _wall_robots(args, [(spec, pose) for spec, pose in fleet
                                         if not args.only or spec.id in args.only])
    try:
        from sim.robot_host import HostOptions, run_robot_host
    except ImportError as err:
        raise OSError(f"simulated ROS robots need rclpy: pip install 'fleet[ros]' or source a "
                      f"ROS 2 installation ({err})") from err
    mine = [(spec, pose) for spec, pose in fleet if not args.only or spec.id in args.only]
    ready = asyncio.Event()
    task = asyncio.create_task(run_robot_host(mine, HostOptions(
        command_timeout_s=args.command_timeout), ready))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.wait([task, asyncio.create_task(ready.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set():
        print(f"fleet: simulated ROS robots {', '.join(s.id for s, _ in mine)} waiting for "
              "the world", flush=True)
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return 0
    stopper.cancel()
    print(f"fleet: the run is over after {task.result()} ticks", flush=True)
    return 0


def _check_http(server: Any, address: str, insecure: bool) -> None:
    """Refuse an HTTP listener less secure than the gRPC server, before either listens."""
    from fleet.http import check_exposure

    check_exposure(server, address, insecure=insecure)


async def _start_http(server: Any, address: str, tls: tuple[str, str] | None = None) -> Any:
    """The control center beside a started gRPC server, on the same loop (HTTPS with the
    gRPC server's certificate if it has one)."""
    from fleet.http import HttpServer, create_app

    http = HttpServer(create_app(server), address, tls)
    await http.start()
    print(f"fleet: control center at {http.url}", flush=True)
    return http


async def _view(args: argparse.Namespace) -> int:
    from fleet.api.convert import floor_to_wire
    from fleet.floor import load_floor
    from fleet.http import HttpServer, create_replay_app, load_replay
    from fleet.http._wire import to_json

    replay = load_replay(args.log)
    map_file = args.map or replay["header"].get("map", "")
    if not args.map and map_file and not os.path.isabs(map_file) \
            and not os.path.exists(map_file):
        beside = os.path.join(os.path.dirname(os.path.abspath(args.log)), map_file)
        map_file = beside if os.path.exists(beside) else map_file
    floor = to_json(floor_to_wire(load_floor(map_path(map_file))))
    http = HttpServer(create_replay_app(floor, replay), args.http)
    await http.start()
    print(f"fleet: replay of {args.log} ({len(replay['frames'])} frames) at {http.url}",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await http.stop()
    return 0


def _check_log(args: argparse.Namespace) -> int:
    from sim.check import check_log

    report = check_log(args.log, map_path=args.map)
    print(report.summary())
    return 0 if report.ok else 1


def _map(args: argparse.Namespace) -> int:
    from collections import Counter

    from fleet.floor import load_floor, rasterize

    floor = load_floor(map_path(args.map))
    grid = rasterize(floor)
    kinds = Counter(s.kind.value for s in floor.stations.values())
    print(f"{floor.name}: valid; {grid.shape[1]} x {grid.shape[0]} cells of "
          f"{floor.resolution_m} m, {int(grid.free.sum())} free")
    for kind, n in sorted(kinds.items()):
        ids = sorted(s.id for s in floor.stations.values() if s.kind.value == kind)
        print(f"  {kind:10s} {n:3d}  {' '.join(ids)}")
    return 0


def _mapf(args: argparse.Namespace) -> int:
    from fleet.planning.mapf import check_solution, solve_mapf, write_result
    from fleet.planning.mapf.instance import load_instance

    instance = load_instance(args.map, args.scen, args.agents)
    result = solve_mapf(instance.graph(), instance.starts, instance.goals,
                        time_limit_s=args.time_limit, seed=args.seed,
                        refine_time_s=args.refine_time)
    if args.out:
        write_result(args.out, result, instance.map_file, seed=args.seed)
    ratio = result.soc / result.lower_bound if result.lower_bound else 1.0
    print(f"solved={int(result.solved)} agents={result.n_agents} soc={result.soc} "
          f"soc/lb={ratio:.3f} makespan={result.makespan} "
          f"comp_time={result.comp_time_s * 1000:.0f}ms")
    if not result.solved:
        return 1
    if args.check:
        violations = check_solution(instance.free, instance.starts, instance.goals,
                                    result.paths, forbidden_moves=instance.forbidden_moves)
        for violation in violations:
            print(f"violation: {violation}")
        print(f"check: {'ok' if not violations else f'{len(violations)} violations'}")
        return 1 if violations else 0
    return 0


def _lifelong(args: argparse.Namespace) -> int:
    from fleet.planning.mapf import load_lorr, run_lifelong

    problem = load_lorr(args.problem)
    stats = run_lifelong(problem, args.steps, seed=args.seed,
                         time_limit_per_step_s=args.time_limit_per_step,
                         delays=not args.no_delays, rotations=not args.no_rotations)
    if args.out:
        Path(args.out).write_text(json.dumps(stats.as_dict(), indent=2) + "\n",
                                  encoding="utf-8")
    print(f"{stats.problem}: {stats.agents} agents, {stats.steps} steps, "
          f"{stats.tasks_finished} tasks finished ({stats.throughput:.3f}/step), "
          f"planning per step p50 {stats.plan_time_p50_s * 1000:.2f} ms, "
          f"p99 {stats.plan_time_p99_s * 1000:.2f} ms, max {stats.plan_time_max_s * 1000:.1f} ms, "
          f"collisions {stats.collisions}, delay events {stats.delay_events}, "
          f"quarter turns {stats.turns}")
    return 0 if stats.collisions == 0 else 1


def _sim_line(args: argparse.Namespace) -> int:
    from fleet.linesim import RunSpec, run_line
    from fleet.production import load_line

    if args.server or args.ros:
        print("fleet: --line runs its own coordinator with gRPC robots (no --server, --ros)",
              file=sys.stderr)
        return 2
    path = line_path(args.line)
    line = load_line(path)
    run = run_line(RunSpec(path, map_path(line.floor), args.agvs or line.fleet.agvs,
                           args.welders or line.fleet.welders, args.seed, args.units,
                           log_path=args.log, time_limit_s=args.time_limit
                           if args.time_limit != 6 * 3600.0 else None,
                           dispatcher=args.dispatcher or "schedule", warm_up=args.warm_up,
                           cool_down=args.cool_down))
    figures = run.figures
    print(f"line {line.name}: {run.spec.agvs} AGVs, {run.spec.welders} welders, seed "
          f"{args.seed}")
    print(figures.summary())
    print(f"collisions        {run.collisions} (collisions, obstacle hits and speed "
          "violations in the trajectory log)")
    if args.log:
        print(f"trajectory log    {args.log}")
    if args.gantt:
        from sim.gantt import plot_gantt
        plot_gantt(figures, args.gantt, f"{line.name}: {run.spec.agvs} AGVs, "
                   f"{run.spec.welders} welders, seed {args.seed}")
        print(f"gantt chart       {args.gantt}")
    if args.plot and args.log:
        from sim.plot import plot_run
        plot_run(args.log, args.plot, floor_yaml=map_path(line.floor))
        print(f"picture           {args.plot}")
    return 0 if run.ok else 1


def _size(args: argparse.Namespace) -> int:
    from fleet.linesim import LineRun, sweep
    from fleet.production import load_line

    path = line_path(args.line)
    line = load_line(path)
    takt = args.takt or line.takt_s
    total = len(args.agvs) * len(args.welders) * args.seeds
    print(f"line {line.name}: {total} simulations ({len(args.agvs)} AGV counts x "
          f"{len(args.welders)} welder counts x {args.seeds} seeds), orders every "
          f"{takt * (1 - args.margin):.0f} s (takt {takt:.0f} s less {100 * args.margin:.0f} % "
          f"margin), on {args.cluster or f'{args.workers or os.cpu_count()} processes'}",
          flush=True)

    def progress(run: LineRun) -> None:
        f = run.figures
        print(f"  {run.spec.agvs:>2} AGVs {run.spec.welders:>2} welders seed "
              f"{run.spec.seed}: takt achieved {f.takt_achieved_s:.1f} "
              f"+- {f.takt_error_s:.1f} s, "
              f"{f.completed}/{f.released} done, collisions {run.collisions}",
              file=sys.stderr, flush=True)
    sizing = sweep(path, map_path(line.floor), args.agvs, args.welders,
                   list(range(1, args.seeds + 1)), takt_s=takt, margin=args.margin,
                   units=args.units, workers=args.workers, cluster=args.cluster,
                   warm_up=args.warm_up, cool_down=args.cool_down,
                   progress=progress)
    print(sizing.table())
    if sizing.smallest is None:
        print(f"no fleet of the sweep holds takt {takt:.0f} s with a "
              f"{100 * args.margin:.0f} % margin on every seed")
    else:
        agvs, welders = sizing.smallest
        print(f"smallest fleet that holds takt {takt:.0f} s with a {100 * args.margin:.0f} % "
              f"margin on every seed: {agvs} AGVs and {welders} welders")
    if args.plot:
        from sim.gantt import plot_sizing
        points: dict[tuple[int, int], list[float]] = {}
        for run in sizing.runs:
            points.setdefault((run.spec.agvs, run.spec.welders), []).append(
                run.figures.takt_achieved_s)
        plot_sizing([(a, w, v) for (a, w), v in points.items()], takt * (1 - args.margin),
                    args.plot, f"{line.name}: takt achieved with orders every "
                    f"{takt * (1 - args.margin):.0f} s (takt {takt:.0f} s, "
                    f"{100 * args.margin:.0f} % margin)")
        print(f"picture           {args.plot}")
    return 0 if sizing.smallest is not None else 1


async def _client(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf import json_format

    from fleet._cli_client import (
        check_listen_address,
        describe_event,
        describe_mission,
        read_missions,
    )
    from fleet.client import open_channel
    from fleet.v1 import fleet_pb2, fleet_pb2_grpc, missions_pb2, missions_pb2_grpc

    check_listen_address("--server", args.server, probe=False)

    async with open_channel(args.server, token=args.token, tls_ca=args.tls_ca) as channel:
        missions = missions_pb2_grpc.MissionsStub(channel)
        try:
            if args.command == "robots":
                reply = await fleet_pb2_grpc.FleetStub(channel).ListRobots(
                    fleet_pb2.ListRobotsRequest(), timeout=10)
                for r in reply.robots:
                    print(f"{r.robot_id:12s} {'up' if r.connected else 'down':5s} "
                          f"({r.pose.x:6.1f}, {r.pose.y:6.1f}) battery {100 * r.battery:3.0f} % "
                          f"{r.current_task}"
                          f"{'  paused: ' + r.paused_reason if r.paused_reason else ''}")
            elif args.command == "missions":
                listed = await missions.List(missions_pb2.ListMissionsRequest(page_size=1000),
                                             timeout=10)
                for m in listed.missions:
                    state = missions_pb2.MissionStateValue.Name(m.state).removeprefix(
                        "MISSION_STATE_").lower()
                    print(f"{m.mission_id:16s} {state:10s} {m.reason}")
            elif args.command == "submit":
                text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
                specs = read_missions(text, "stdin" if args.file == "-" else args.file)
                for k, spec in enumerate(specs, start=1):
                    try:
                        status = await missions.Submit(
                            missions_pb2.SubmitMissionRequest(mission=spec), timeout=10)
                    except grpc.aio.AioRpcError as err:
                        which = f"mission {k} of {len(specs)}: " if len(specs) > 1 else ""
                        print(f"fleet: {which}{err.code().name}: {err.details()}",
                              file=sys.stderr)
                        return 2
                    print(status.mission_id, flush=True)
            elif args.command == "get":
                print(describe_mission(await missions.Get(missions_pb2.GetMissionRequest(
                    mission_id=args.mission_id), timeout=10)))
            elif args.command == "order":
                import time
                reply = await missions.SubmitOrder(missions_pb2.SubmitOrderRequest(
                    order_id=args.order_id or f"order-{int(time.time())}", model=args.model,
                    count=args.count, release_s=args.release, deadline_s=args.deadline,
                    priority=args.priority), timeout=30)
                for m in reply.missions:
                    print(f"{m.mission_id:20s} {len(m.tasks)} tasks, released at "
                          f"{m.release_s:.0f} s")
            elif args.command == "cancel":
                await missions.Cancel(missions_pb2.CancelMissionRequest(
                    mission_id=args.mission_id, reason=args.reason), timeout=10)
            elif args.command in ("pause", "resume"):
                fleet = fleet_pb2_grpc.FleetStub(channel)
                if args.command == "pause":
                    info = await fleet.PauseRobot(fleet_pb2.PauseRobotRequest(
                        robot_id=args.robot_id, reason=args.reason), timeout=10)
                else:
                    info = await fleet.ResumeRobot(fleet_pb2.ResumeRobotRequest(
                        robot_id=args.robot_id), timeout=10)
                print(f"{info.robot_id}: {info.paused_reason or 'released'}")
            elif args.command == "watch":
                async for e in missions.WatchEvents(missions_pb2.WatchEventsRequest(
                        mission_id=args.mission, after_seq=0)):
                    print(json.dumps(json_format.MessageToDict(e)) if args.json
                          else describe_event(e), flush=True)
        except grpc.aio.AioRpcError as err:
            print(f"fleet: {err.code().name}: {err.details()}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
