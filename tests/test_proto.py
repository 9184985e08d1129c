"""Generated code is never edited by hand and never stale."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "proto" / "gen" / "idres" / "v1"


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--out", str(tmp_path)], check=True
    )
    fresh = tmp_path / "idres" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    assert "identity_pb2_grpc.py" in names
    _, mismatch, errors = filecmp.cmpfiles(GENERATED, fresh, names, shallow=False)
    assert not mismatch and not errors, f"stale: run `make gen` ({mismatch + errors})"


def test_clients_import_the_contract_as_idres_v1() -> None:
    from idres.v1 import identity_pb2, identity_pb2_grpc

    service = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"]
    assert service.full_name == "idres.v1.IdentityService"
    assert {m.name for m in service.methods} >= {"Observe", "Resolve", "GetCustomer"}
    assert hasattr(identity_pb2_grpc, "IdentityServiceStub")
    zero = identity_pb2.Decision.Name(identity_pb2.DECISION_UNSPECIFIED)
    assert zero == "DECISION_UNSPECIFIED"
