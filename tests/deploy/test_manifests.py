"""The Kubernetes manifests parse, reference files that exist, and agree with the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from idres.resolver.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize(
    "kustomization", KUSTOMIZATIONS, ids=lambda p: str(p.parent.relative_to(K8S))
)
def test_every_resource_exists_and_parses(kustomization: Path) -> None:
    spec = documents(kustomization)[0]
    assert spec["kind"] == "Kustomization"
    for resource in spec["resources"]:
        target = (kustomization.parent / resource).resolve()
        assert target.exists(), f"{kustomization}: missing {resource}"
        files = [target / "kustomization.yaml"] if target.is_dir() else [target]
        for file in files:
            assert all("apiVersion" in d and "kind" in d for d in documents(file))


def test_the_deployment_probes_the_served_port_and_outlasts_the_drain() -> None:
    base = K8S / "base"
    deployment = documents(base / "deployment.yaml")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    literals = dict(
        item.split("=", 1)
        for item in documents(base / "kustomization.yaml")[0]["configMapGenerator"][0]["literals"]
    )
    settings = Settings.from_env(literals)
    assert container["ports"][0]["containerPort"] == settings.port
    assert container["readinessProbe"]["grpc"]["port"] == settings.port
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace_s
