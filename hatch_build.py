"""Build hook: compile protos/fleet/v1/*.proto into fleet/v1/ (stubs are never committed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def generate(root: Path) -> list[Path]:
    """Run grpc_tools.protoc over every proto; return the generated files."""
    from grpc_tools import protoc  # build requirement, imported late on purpose

    proto_root = root / "protos"
    protos = sorted(str(p.relative_to(proto_root)) for p in (proto_root / "fleet").rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{include}",
        f"--python_out={root}",
        f"--pyi_out={root}",
        f"--grpc_python_out={root}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    out = root / "fleet" / "v1"
    (out / "__init__.py").touch()
    return sorted(out.glob("*_pb2*.py*"))


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Generate the gRPC stubs before hatchling collects files."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        generate(Path(self.root))


if __name__ == "__main__":
    for path in generate(Path(__file__).parent):
        print(path, file=sys.stderr)
