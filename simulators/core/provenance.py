"""What produced an output: package versions and the git commit, recorded beside results."""
from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

_PACKAGES = ("amort", "torch", "numpy", "scipy", "pandas", "networkx", "lingam", "scikit-learn")


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape results (missing ones are omitted)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the source tree this code runs from (suffix ``-dirty`` if modified), or None."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict:
    """Versions, commit and command line, as a JSON-ready dict."""
    return {"versions": package_versions(), "git_commit": git_commit(), "argv": sys.argv, "host": platform.node()}
