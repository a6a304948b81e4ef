"""requirements.lock pins every dependency pyproject.toml names, at a version pyproject allows, and is what is installed.

When this fails after adding a dependency: run `make lock` and commit requirements.lock.
"""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[3]
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.fullmatch(line.strip())
        assert match, f"not a name==version pin: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in found, f"{name} pinned twice"
        found[name] = match[2]
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_every_dependency_named_in_pyproject_is_pinned_at_an_allowed_version() -> None:
    locked = pins()
    missing = [str(r) for r in declared() if canonicalize_name(r.name) not in locked]
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    outside = [f"{r} (locked {locked[canonicalize_name(r.name)]})" for r in declared()
               if not r.specifier.contains(locked[canonicalize_name(r.name)], prereleases=True)]
    assert not outside, f"requirements.lock pins versions pyproject.toml does not allow (run `make lock`): {outside}"


def test_what_an_extra_pulls_in_is_pinned_too() -> None:
    locked = pins()
    for requirement in declared():
        for extra in requirement.extras:  # python-jose[cryptography], psycopg[binary]
            pulled = [Requirement(r) for r in metadata.requires(requirement.name) or []]
            for dependency in pulled:
                if dependency.marker is not None and dependency.marker.evaluate({"extra": extra}):
                    assert canonicalize_name(dependency.name) in locked, f"{requirement}: {dependency.name}"


def test_the_venv_was_installed_from_the_lock() -> None:
    differing = {}
    for name, version in pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # e.g. a platform-specific pin
        if installed != version:
            differing[name] = (version, installed)
    assert not differing, f"installed versions differ from requirements.lock (run `make install`): {differing}"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "deploy" / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_installs_from_the_lock_and_copies_only_what_it_runs() -> None:
    instructions = _dockerfile_instructions()
    copied = {}  # source -> destination
    for name, args in instructions:
        if name == "COPY":
            *sources, destination = args.split()
            copied.update({s: destination.rstrip("/") + "/" + Path(s).name if destination.endswith("/")
                           else destination for s in sources})
    installs = [args for name, args in instructions if name == "RUN" and "pip install" in args]
    assert installs, "the Dockerfile installs nothing with pip"
    assert "requirements.lock" in copied, "the lock is not copied into the image"
    for run in installs:
        words = run.split()
        constraints = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-c", "--constraint")]
        assert copied["requirements.lock"] in constraints, f"pip install without the lock: {run!r}"
    # The package, its metadata and the lock: the server's settings come from the package (`serve` runs
    # cds_service.server.gunicorn_config), so deploy/gunicorn.conf.py is not needed in the image.
    assert set(copied) == {"pyproject.toml", "requirements.lock", "cds_service"}
    cmd = next(args for name, args in instructions if name == "CMD")
    assert "serve" in cmd and "gunicorn" not in cmd
