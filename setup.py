"""Maps the `idres` namespace onto its source roots (setuptools cannot find one namespace in
several folders by itself)."""

from pathlib import Path

from setuptools import find_namespace_packages, setup

ROOTS = ["services/resolver", "services/ingest", "services/cli", "proto/gen"]


def _packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for root in ROOTS:
        if Path(root).is_dir():
            for name in find_namespace_packages(root, include=["idres.*"]):
                found[name] = f"{root}/{name.replace('.', '/')}"
    return found


_PACKAGES = _packages()
setup(packages=sorted(_PACKAGES), package_dir=_PACKAGES)
