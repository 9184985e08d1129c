"""The rendered manifests agree with the server and the CLI, and with each other: ports, the
drain, selectors, the network policy, the migrations Job, the CronJobs, resources, images."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from idres.cli import build_parser
from idres.resolver.settings import Settings
from tests.deploy.kube import (
    K8S,
    TARGETS,
    Doc,
    all_pod_templates,
    config,
    of_kind,
    one,
    pod_templates,
    quantity,
    render,
    selects,
    target_id,
)

OVERLAYS = [t for t in TARGETS if t.parent.name == "overlays"]
DB_PORT, COLLECTOR_PORT, DNS_PORT, METRICS_PORT = 5432, 4317, 53, 9464
each_target = pytest.mark.parametrize("target", TARGETS, ids=target_id)
each_overlay = pytest.mark.parametrize("target", OVERLAYS, ids=target_id)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def resolver(docs: list[Doc]) -> tuple[Doc, Doc, Settings]:
    """The resolver Deployment, its pod spec, and the Settings its container starts with."""
    deployment = one(docs, "Deployment", "idres-resolver")
    pod = deployment["spec"]["template"]["spec"]
    env = config(docs, pod["containers"][0])
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("IDRES_")})
    return deployment, pod, settings


@pytest.mark.parametrize(
    "kustomization", sorted(K8S.rglob("kustomization.yaml")), ids=lambda p: target_id(p.parent)
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


@each_target
def test_the_deployment_probes_the_served_port_and_outlasts_the_drain(target: Path) -> None:
    _, pod, settings = resolver(render(target))
    container = pod["containers"][0]
    assert container["args"] == ["serve"]
    (port,) = [p for p in container["ports"] if p["name"] == "grpc"]
    assert port["containerPort"] == settings.port
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        check = container[probe]
        if "grpc" in check:
            assert check["grpc"]["port"] == settings.port, probe
        else:
            assert check["tcpSocket"]["port"] in ("grpc", settings.port), probe
    # The pause runs before SIGTERM, the drain after it: the grace period must cover both.
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause > 0
    assert pod["terminationGracePeriodSeconds"] > pause + settings.shutdown_grace_s


@each_target
def test_probes_speak_grpc_only_to_a_plaintext_port(target: Path) -> None:
    # The kubelet's gRPC probe has no TLS, and a server with a certificate opens no
    # plaintext port: such a probe would fail forever.
    docs = render(target)
    _, pod, _ = resolver(docs)
    container = pod["containers"][0]
    tls = "IDRES_TLS_CERT_FILE" in config(docs, container)
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        # Without TLS the gRPC health check is the better probe: it sees NOT_SERVING.
        assert ("grpc" in container[probe]) is not tls, probe


@each_target
def test_replicas_are_the_autoscalers_to_set(target: Path) -> None:
    docs = render(target)
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in hpas}
    for hpa in hpas:
        ref = hpa["spec"]["scaleTargetRef"]
        deployment = one(docs, ref["kind"], ref["name"])
        assert "replicas" not in deployment["spec"], "a fixed count fights the HPA on apply"
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # Utilization is a share of the request: without one the HPA cannot scale on CPU.
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "cpu" in container["resources"]["requests"]
    for deployment in of_kind(docs, "Deployment"):
        if deployment["metadata"]["name"] not in scaled:
            assert deployment["spec"].get("replicas", 1) >= 1


@each_target
def test_replicas_spread_across_zones(target: Path) -> None:
    deployment, pod, _ = resolver(render(target))
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    zones = [
        c
        for c in pod["topologySpreadConstraints"]
        if c["topologyKey"] == "topology.kubernetes.io/zone"
    ]
    assert zones, "no spread across zones"
    assert all(selects(c["labelSelector"], labels) for c in zones)


@each_target
def test_every_selector_takes_only_its_own_pods(target: Path) -> None:
    docs = render(target)
    templates = all_pod_templates(docs)

    def selected(selector: Doc) -> set[str]:
        return {name for name, t in templates if selects(selector, t["metadata"]["labels"])}

    for deployment in of_kind(docs, "Deployment"):
        own = {f"Deployment/{deployment['metadata']['name']}"}
        assert selected(deployment["spec"]["selector"]) == own
    resolver_pods = {"Deployment/idres-resolver"}
    service = one(docs, "Service", "idres")
    assert selected({"matchLabels": service["spec"]["selector"]}) == resolver_pods
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        assert selected(pdb["spec"]["selector"]) == resolver_pods
    # Every pod is under a policy, and under one only (policies add up, so one stray
    # selector would widen what a pod may reach).
    policies = [selected(p["spec"]["podSelector"]) for p in of_kind(docs, "NetworkPolicy")]
    covered = [name for names in policies for name in names]
    assert sorted(covered) == sorted(name for name, _ in templates)


@each_target
def test_network_policy_admits_only_grpc_and_reaches_only_postgres_the_collector_and_dns(
    target: Path,
) -> None:
    docs = render(target)
    _, _, settings = resolver(docs)
    clusters = {c["metadata"]["name"] for c in of_kind(docs, "Cluster")}
    for policy in of_kind(docs, "NetworkPolicy"):
        spec = policy["spec"]
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}, "both directions deny by default"
        ingress = {p["port"] for rule in spec.get("ingress", []) for p in rule["ports"]}
        if policy["metadata"]["name"] == "idres-resolver":
            assert ingress == {settings.port, METRICS_PORT}
        else:
            assert ingress == set()
        assert all("ports" in rule and "to" in rule for rule in spec["egress"]), "no open egress"
        egress = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
        assert egress == {DB_PORT, COLLECTOR_PORT, DNS_PORT}
        for rule in spec["egress"]:
            if {p["port"] for p in rule["ports"]} == {DB_PORT}:
                (peer,) = rule["to"]
                cluster = peer["podSelector"]["matchLabels"]["cnpg.io/cluster"]
                assert not clusters or cluster in clusters, "PostgreSQL rule names no cluster"


@each_overlay
def test_the_database_secret_is_the_one_cloudnative_pg_creates(target: Path) -> None:
    docs = render(target)
    (cluster,) = of_kind(docs, "Cluster")
    for _, template in all_pod_templates(docs):
        for container in template["spec"]["containers"]:
            (url,) = [e for e in container["env"] if e["name"] == "IDRES_DATABASE_URL"]
            ref = url["valueFrom"]["secretKeyRef"]
            assert ref == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}


@each_target
def test_migrations_run_once_in_a_job_not_in_every_replica(target: Path) -> None:
    docs = render(target)
    _, _, settings = resolver(docs)
    assert settings.migrate_on_start is False
    jobs = [j for j in of_kind(docs, "Job") if j["metadata"]["name"] == "idres-migrate"]
    (job,) = jobs
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "migrate"
    assert "ttlSecondsAfterFinished" in job["spec"], "the next release's apply must recreate it"


@each_target
def test_every_command_is_one_the_cli_accepts(target: Path) -> None:
    docs = render(target)
    verbs: dict[str, list[str]] = {}
    for _, template in all_pod_templates(docs):
        for container in template["spec"]["containers"]:
            args = container["args"]
            build_parser().parse_args(args)  # exits on an unknown verb or option
            verbs[args[0]] = args
    assert {"serve", "migrate", "train", "dedup"} <= set(verbs)
    assert "--from-store" in verbs["train"]


@each_target
def test_the_dedup_cronjob_works_on_its_volume_with_workers_for_its_cpus(target: Path) -> None:
    docs = render(target)
    cronjob = one(docs, "CronJob", "idres-dedup")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (template,) = pod_templates(cronjob)
    (container,) = template["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in template["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    pvcs = {p["metadata"]["name"] for p in of_kind(docs, "PersistentVolumeClaim")}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path in (args.input, args.out, args.report, Path(container["workingDir"])):
        mount = next(m for m in mounts if Path(path).is_relative_to(m))
        assert claims[mounts[mount]] in pvcs, f"{path} is not on a claimed volume"
    assert args.workers == quantity(container["resources"]["requests"]["cpu"])


@each_target
def test_every_container_requests_what_it_needs_and_caps_memory(target: Path) -> None:
    for name, template in all_pod_templates(render(target)):
        for container in template["spec"]["containers"]:
            resources = container["resources"]
            requests, limits = resources["requests"], resources["limits"]
            assert quantity(requests["cpu"]) > 0, name
            assert quantity(limits["memory"]) >= quantity(requests["memory"]) > 0, name


def test_resources_follow_the_measured_memory_per_million_records() -> None:
    # docs/benchmarks.md: serve with a model about 5.5 GB per million records plus 0.1 GB;
    # dedup 4.6 GB at 1M records. The base is sized for 1M records.
    docs = render(K8S / "base")
    _, pod, _ = resolver(docs)
    serve = pod["containers"][0]["resources"]
    assert quantity(serve["requests"]["memory"]) >= 5.6e9
    (dedup,) = pod_templates(one(docs, "CronJob", "idres-dedup"))
    assert quantity(dedup["spec"]["containers"][0]["resources"]["requests"]["memory"]) >= 4.6e9


@each_target
def test_every_idres_variable_set_is_a_setting(target: Path) -> None:
    # Settings ignore a variable they do not know: a misspelt one would be silently lost.
    known = {"IDRES_" + f.name.upper() for f in fields(Settings)}
    docs = render(target)
    for name, template in all_pod_templates(docs):
        for container in template["spec"]["containers"]:
            names = set(config(docs, container)) | {e["name"] for e in container["env"]}
            assert {n for n in names if n.startswith("IDRES_")} <= known, name


@each_target
def test_each_render_runs_one_image(target: Path) -> None:
    images = {
        c["image"] for _, t in all_pod_templates(render(target)) for c in t["spec"]["containers"]
    }
    assert len(images) == 1, images


def test_prod_pins_the_image_by_digest() -> None:
    docs = render(K8S / "overlays" / "prod")
    for name, template in all_pod_templates(docs):
        for container in template["spec"]["containers"]:
            assert re.fullmatch(r"[a-z0-9.\-/]+@sha256:[0-9a-f]{64}", container["image"]), name


def test_prod_mounts_tokens_and_tls_from_optional_secrets_that_can_rotate() -> None:
    docs = render(K8S / "overlays" / "prod")
    _, pod, _ = resolver(docs)
    container = pod["containers"][0]
    env = config(docs, container)
    secrets = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    files = {
        "IDRES_AUTH_TOKENS_FILE": "idres-tokens",
        "IDRES_TLS_CERT_FILE": "idres-tls",
        "IDRES_TLS_KEY_FILE": "idres-tls",
    }
    for variable, secret in files.items():
        (volume,) = [name for name, s in secrets.items() if s["secretName"] == secret]
        assert secrets[volume]["optional"] is True
        mount = mounts[volume]
        # A subPath mount never sees the Secret's updates: a rotated token would not arrive.
        assert "subPath" not in mount
        assert Path(env[variable]).parent == Path(mount["mountPath"])
