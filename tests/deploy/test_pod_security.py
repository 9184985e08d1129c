"""Every pod the overlays create passes the "restricted" Pod Security Standard, so a namespace
labelled `pod-security.kubernetes.io/enforce: restricted` admits it, and mounts no service
account token (no idres pod calls the Kubernetes API)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kube import (
    TARGETS,
    Doc,
    all_pod_templates,
    containers,
    of_kind,
    render,
    target_id,
)

# The restricted profile's rules, from Kubernetes' Pod Security Standards page.
RESTRICTED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)


def restricted_violations(pod: Doc) -> list[str]:
    """What keeps `pod` (a pod spec) out of a namespace enforcing the restricted profile,
    baseline rules included; empty when it passes."""
    found: list[str] = []
    pod_sc: dict[str, Any] = pod.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"{key} is set")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} is {sorted(kinds)}")
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl['name']}")
    found += _context_violations("pod", pod_sc)
    pod_seccomp = pod_sc.get("seccompProfile", {}).get("type")
    pod_non_root = pod_sc.get("runAsNonRoot")
    for container in containers(pod):
        name = f"container {container['name']}"
        sc: dict[str, Any] = container.get("securityContext", {})
        found += _context_violations(name, sc)
        if sc.get("privileged"):
            found.append(f"{name} is privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name} does not set allowPrivilegeEscalation: false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name} does not drop ALL capabilities")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name} adds capabilities {caps['add']}")
        if sc.get("runAsNonRoot", pod_non_root) is not True:
            found.append(f"{name} may run as root (runAsNonRoot)")
        seccomp = sc.get("seccompProfile", {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_ALLOWED:
            found.append(f"{name} has seccompProfile {seccomp}, not RuntimeDefault or Localhost")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name} sets procMount")
        if any(p.get("hostPort") for p in container.get("ports", [])):
            found.append(f"{name} uses a hostPort")
    return found


def _context_violations(where: str, sc: dict[str, Any]) -> list[str]:
    """The rules a pod's and a container's securityContext share."""
    found = []
    if sc.get("runAsUser") == 0:
        found.append(f"{where} runs as user 0")
    if sc.get("windowsOptions", {}).get("hostProcess"):
        found.append(f"{where} is a Windows host process")
    seccomp = sc.get("seccompProfile", {}).get("type")
    if seccomp is not None and seccomp not in SECCOMP_ALLOWED:
        found.append(f"{where} has seccompProfile {seccomp}")
    apparmor = sc.get("appArmorProfile", {}).get("type")
    if apparmor is not None and apparmor not in APPARMOR_ALLOWED:
        found.append(f"{where} has appArmorProfile {apparmor}")
    selinux = sc.get("seLinuxOptions", {})
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        found.append(f"{where} sets seLinuxOptions {selinux}")
    return found


@pytest.mark.parametrize("target", TARGETS, ids=target_id)
def test_every_pod_passes_the_restricted_profile_without_a_token(target: Path) -> None:
    docs = render(target)
    accounts = {a["metadata"]["name"]: a for a in of_kind(docs, "ServiceAccount")}
    templates = all_pod_templates(docs)
    assert templates
    for name, template in templates:
        pod = template["spec"]
        assert restricted_violations(pod) == [], name
        assert pod["automountServiceAccountToken"] is False, name
        # Its own account, which mounts no token either: the default one may be bound to roles.
        account = accounts[pod["serviceAccountName"]]
        assert account["automountServiceAccountToken"] is False, name


def _good_pod() -> Doc:
    (_, template), *_ = all_pod_templates(render(TARGETS[0]))
    pod: Doc = copy.deepcopy(template["spec"])
    return pod


def _container(pod: Doc) -> Doc:
    first: Doc = pod["containers"][0]
    return first


MUTATIONS: dict[str, Callable[[Doc], None]] = {
    "host network": lambda p: p.update(hostNetwork=True),
    "host PID": lambda p: p.update(hostPID=True),
    "hostPath volume": lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "no seccomp anywhere": lambda p: p["securityContext"].pop("seccompProfile"),
    "unconfined seccomp": lambda p: (
        _container(p)
        .setdefault("securityContext", {})
        .update(seccompProfile={"type": "Unconfined"})
    ),
    "root user": lambda p: p["securityContext"].update(runAsUser=0),
    "root allowed": lambda p: p["securityContext"].pop("runAsNonRoot"),
    "privilege escalation": lambda p: _container(p)["securityContext"].pop(
        "allowPrivilegeEscalation"
    ),
    "capabilities kept": lambda p: _container(p)["securityContext"].pop("capabilities"),
    "capability added": lambda p: _container(p)["securityContext"]["capabilities"].update(
        add=["SYS_ADMIN"]
    ),
    "privileged": lambda p: _container(p)["securityContext"].update(privileged=True),
    "host port": lambda p: (
        _container(p).setdefault("ports", []).append({"containerPort": 80, "hostPort": 80})
    ),
    "unsafe sysctl": lambda p: p["securityContext"].update(
        sysctls=[{"name": "kernel.msgmax", "value": "1"}]
    ),
    "init container as root": lambda p: p.setdefault("initContainers", []).append(
        {"name": "init", "image": "x", "securityContext": {"runAsNonRoot": False}}
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=str)
def test_the_check_refuses_what_the_profile_refuses(mutation: str) -> None:
    pod = _good_pod()
    assert restricted_violations(pod) == []
    MUTATIONS[mutation](pod)
    assert restricted_violations(pod), f"{mutation} went unnoticed"
