"""Generate the `idres.v1` Python package from `proto/idres/v1/*.proto`.

The one way generated code is made, so the staleness test can run it into a temporary folder
and compare byte for byte.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
DEFAULT_OUT = ROOT / "proto" / "gen"
PACKAGE_DOC = '"""Generated from proto/idres/v1 by scripts/gen_proto.py; do not edit."""\n'


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "idres" / "v1").glob("*.proto"))


def generate(out: Path) -> None:
    package = out / "idres" / "v1"
    package.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    plugins = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (package / "__init__.py").write_text(PACKAGE_DOC)
    (package / "py.typed").write_text("")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    generate(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
