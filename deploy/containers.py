"""The container tools of this machine: Docker where an engine answers, else buildah.

Without an engine, buildah is what works here: vfs storage (no overlay mounts) and chroot
isolation (crun refuses to set the rlimits it is given, so no OCI runtime starts a container).
A chroot-isolated `buildah run` shares the host's network, so a process in an image reaches
PostgreSQL and Redis on the host's 127.0.0.1, and listens there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUILDAH = ["buildah", "--storage-driver", "vfs"]
ISOLATION = ["--isolation", "chroot"]
# The Debian package of each command these scripts call.
PACKAGES = {
    "buildah": "buildah",
    "dockerd": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
    "curl": "curl",
    "psql": "postgresql-client",
    "redis-cli": "redis-tools",
}
APT_TIMEOUT = 900  # seconds


class Failed(Exception):
    """A step failed; the message says which, and what to do about it."""


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a command to its end within `timeout` seconds; its output if captured.

    The command gets a process group of its own, killed whole on a timeout or an interrupt,
    so nothing it started (a build's RUN step) outlives it.
    """
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        stdin=subprocess.DEVNULL,
        text=True,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise Failed(f"`{shlex.join(argv)}` did not finish in {timeout:g} s") from None
        raise
    if process.returncode != 0:
        detail = f":\n{err.strip()}" if err else ""
        raise Failed(f"`{shlex.join(argv)}` exited with code {process.returncode}{detail}")
    return out or ""


def docker_answers() -> bool:
    """Whether a Docker engine answers the `docker` command here."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def ensure_commands(*commands: str) -> None:
    """Install the Debian packages of missing commands (as root, with apt-get), or fail saying
    which packages to install."""
    missing = [command for command in commands if shutil.which(command) is None]
    if not missing:
        return
    packages = sorted({PACKAGES[command] for command in missing})
    how = f"apt-get install {' '.join(packages)}"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Failed(f"{', '.join(missing)} missing: install them as root with `{how}`")
    print(f"installing {', '.join(packages)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    try:
        run(install, timeout=APT_TIMEOUT, env=env)
    except Failed:  # a fresh machine may have no package lists yet
        run(["apt-get", "update"], timeout=APT_TIMEOUT, env=env)
        run(install, timeout=APT_TIMEOUT, env=env)
    still = [command for command in missing if shutil.which(command) is None]
    if still:
        raise Failed(f"{', '.join(still)} still missing after `{how}`")


def local_name(image: str) -> str:
    """The name buildah stores an image under (`tickercast-api` -> localhost/...:latest)."""
    if "/" not in image:
        image = f"localhost/{image}"
    return image if ":" in image.rsplit("/", 1)[1] else f"{image}:latest"


def inspect_image(image: str) -> dict[str, Any] | None:
    """buildah's record of a stored image (its Docker config and manifest), None if absent."""
    argv = [*BUILDAH, "inspect", "--type", "image", local_name(image)]
    try:
        # Long: it waits for the storage lock while another buildah commits a layer.
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        raise Failed(f"`{shlex.join(argv)}` did not finish in 900 s") from None
    return json.loads(result.stdout) if result.returncode == 0 else None  # type: ignore[no-any-return]


def image_names(image_id: str) -> list[str]:
    """The names a stored image goes by."""
    listing = run([*BUILDAH, "images", "--json"], timeout=900, capture=True)
    for entry in json.loads(listing or "[]"):
        if image_id.startswith(entry["id"]):
            return list(entry["names"] or [])
    return []


def image_size(record: Mapping[str, Any]) -> int:
    """Bytes of an image's layers unpacked: what `docker image ls` shows as its size."""
    manifest = json.loads(record["Manifest"])
    return sum(int(layer["size"]) for layer in manifest["layers"])


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"
