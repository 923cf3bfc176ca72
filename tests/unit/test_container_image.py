"""docker/Dockerfile, which no machine here can build (no Docker engine), kept in step with the project: it must
copy every package the project installs, or `uv sync` in the image leaves one out and its commands fail."""

from __future__ import annotations

import re
import tomllib

from tests.support import ROOT


def test_the_image_copies_every_package_the_project_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    copied = set(re.findall(r"^COPY (\S+) \./\1$", (ROOT / "docker" / "Dockerfile").read_text(), re.MULTILINE))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
