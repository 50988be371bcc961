"""The command line as the README writes it parses to what it says."""

from __future__ import annotations

from fleet.cli import _parser


def test_the_readme_simulation_command_parses() -> None:
    """`--log` of fleet sim once collided with the global --log-level/--log-format
    (argparse matched it as an ambiguous abbreviation before the subcommand saw it)."""
    args = _parser().parse_args(["sim", "--robots", "10", "--missions", "30", "--seed", "1",
                                 "--log", "run.jsonl", "--plot", "run.png"])
    assert (args.robots, args.missions, args.log, args.plot) == (10, 30, "run.jsonl", "run.png")
    wall = _parser().parse_args(["sim-robots", "--server", "127.0.0.1:1", "--log", "r.jsonl"])
    assert wall.log == "r.jsonl"
    logged = _parser().parse_args(["--log-format", "json", "sim", "--log", "x.jsonl"])
    assert (logged.log_format, logged.log) == ("json", "x.jsonl")
