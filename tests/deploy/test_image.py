"""The image is reproducible: its base pinned by digest, its dependencies installed from the
hash-pinned locks (which still satisfy pyproject.toml), its context free of local state, and
its user the one the pods run as."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.kube import K8S, ROOT, all_pod_templates, render

CONTAINERFILE = ROOT / "deploy" / "Containerfile"
LOCK = ROOT / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "build.lock"
DIGEST = re.compile(r"^[\w.\-/:]+@sha256:[0-9a-f]{64}$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and line[0] != "#")
    ]


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `make lock` file."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        found = re.match(r"([A-Za-z0-9._\-]+)==([^\s;]+)", line)
        assert found, f"{path.name}: not pinned: {line[:80]}"
        pins[canonicalize_name(found.group(1))] = (
            found.group(2),
            re.findall(r"--hash=sha256:[0-9a-f]{64}", line),
        )
    return pins


def test_every_stage_starts_from_a_digest() -> None:
    args = dict(a.split("=", 1) for word, a in instructions() if word == "ARG" and "=" in a)
    bases = [a.split()[0] for word, a in instructions() if word == "FROM"]
    assert len(bases) >= 2, "a build stage and a runtime stage"
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        assert DIGEST.match(image), f"{base} is not pinned by digest"
        assert image.startswith("python:3.11"), image


def test_the_image_installs_from_the_locks_with_hashes() -> None:
    runs = " ".join(a for word, a in instructions() if word == "RUN")
    assert "--require-hashes --no-deps -r requirements.lock" in runs
    assert "--require-hashes --no-deps -r build.lock" in runs
    copied = " ".join(a for word, a in instructions() if word == "COPY")
    assert "requirements.lock" in copied and "deploy/build.lock" in copied
    # The project's own wheel must not pull anything the lock did not pin.
    assert re.search(r"pip install --no-deps /wheels/idres-", runs)


def test_the_lock_pins_every_dependency_of_pyproject_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked(LOCK)
    for raw in project["dependencies"]:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} is not {requirement}"
    unhashed = [package for package, (_, hashes) in pins.items() if not hashes]
    assert unhashed == []


def test_the_build_tools_agree_with_the_runtime_lock() -> None:
    runtime, build = locked(LOCK), locked(BUILD_LOCK)
    assert {"grpcio-tools", "mypy-protobuf", "setuptools"} <= set(build)
    for name in set(runtime) & set(build):
        assert build[name][0] == runtime[name][0], f"{name} differs between the locks"
    assert all(hashes for _, hashes in build.values())


def test_the_image_runs_as_the_user_the_pods_run_as() -> None:
    (user,) = [a for word, a in instructions() if word == "USER"]
    uid, _, gid = user.partition(":")
    for name, template in all_pod_templates(render(K8S / "base")):
        context = template["spec"]["securityContext"]
        assert (str(context["runAsUser"]), str(context["runAsGroup"])) == (uid, gid), name
    (entrypoint,) = [a for word, a in instructions() if word == "ENTRYPOINT"]
    assert entrypoint == '["idres"]'


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `path` out, by .dockerignore's rules (a pattern that
    matches a folder leaves out all below it; `**` spans folders; `!` re-includes)."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        tokens = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        regex = "".join(
            tokens.get(part, re.escape(part)) for part in re.split(r"(\*\*/|\*\*|\*|\?)", body)
        )
        if re.fullmatch(rf"{regex}(/.*)?", path):
            result = not negate
    return result


@pytest.fixture(scope="module")
def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_context_keeps_what_the_build_reads(dockerignore: list[str]) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    needed = [
        "requirements.lock",
        "deploy/build.lock",
        "pyproject.toml",
        "setup.py",
        "README.md",  # the package's readme
        "scripts/gen_proto.py",
        *(p for p in tracked if p.startswith(("proto/idres/", "services/"))),
    ]
    assert len(needed) > 20
    assert [p for p in needed if ignored(p, dockerignore)] == []


@pytest.mark.parametrize(
    "local",
    [
        ".git/config",
        ".venv/bin/python",
        ".idres/pg/PG_VERSION",
        "proto/gen/idres/v1/x.py",
        "services/cli/idres/cli/__pycache__/x.pyc",
        "idres.egg-info/PKG-INFO",
        "tests/conftest.py",
    ],
)
def test_the_context_leaves_out_local_state(dockerignore: list[str], local: str) -> None:
    assert ignored(local, dockerignore)
