"""Every rendered object is valid for the Kubernetes versions the manifests are for, and the
CloudNativePG objects for the operator's CRDs, offline and with unknown fields refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.kube import (
    KUBERNETES_VERSIONS,
    TARGETS,
    crd_validator,
    of_kind,
    one,
    render,
    structural,
    target_id,
    validate,
)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS, ids=target_id)
def test_every_rendered_object_validates(target: Path, version: str) -> None:
    docs = render(target)
    assert docs
    for doc in docs:
        try:
            validate(doc, version)
        except jsonschema.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} at {path}: {exc.message}")


def test_a_misspelt_field_is_refused() -> None:
    docs = render(TARGETS[0])
    deployment = one(docs, "Deployment", "idres-resolver")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(jsonschema.ValidationError, match="imagePullPolcy"):
        validate(deployment, KUBERNETES_VERSIONS[0])


@pytest.mark.parametrize(
    "change",
    [
        lambda spec: spec.update(instance=3),  # misspelt
        lambda spec: spec.update(instances="three"),
        lambda spec: spec["storage"].update(sise="5Gi"),
    ],
    ids=["unknown field", "wrong type", "unknown nested field"],
)
def test_the_operators_schema_refuses_a_bad_cluster(
    change: Callable[[dict[str, Any]], None],
) -> None:
    prod = render(next(t for t in TARGETS if t.name == "prod"))
    (cluster,) = of_kind(prod, "Cluster")
    crd_validator("Cluster").validate(cluster)
    change(cluster["spec"])
    with pytest.raises(jsonschema.ValidationError):
        crd_validator("Cluster").validate(cluster)


def test_a_crd_schema_reads_as_the_api_server_reads_it() -> None:
    schema = structural(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                # A field may be called `properties`: its name is data, not a keyword.
                "properties": {"type": "object", "properties": {"a": {"type": "integer"}}},
            },
        }
    )
    check = jsonschema.Draft7Validator(schema)
    assert check.is_valid({"port": 5432, "note": None, "free": {"any": 1}, "labels": {"a": "b"}})
    assert check.is_valid({"port": "db", "properties": {"a": 1}})
    assert not check.is_valid({"port": 1.5})
    assert not check.is_valid({"unknown": 1})
    assert not check.is_valid({"labels": {"a": 1}})
    assert not check.is_valid({"properties": {"b": 1}})
