"""`make images`: build the Dockerfile's api, worker and local targets as the images
docker-compose.yml names (tickercast-api, tickercast-worker, tickercast-local).

With Docker where an engine answers (BuildKit: a client with buildx, or Debian's 20.10 one).
Elsewhere with buildah (vfs storage, chroot isolation). With buildah, or with --local-base, on
a base image built here from Debian's packages, once: the public Python image cannot be pulled
on these machines. pip inside the build gets this machine's index settings and CA bundle as
build secrets, so they never land in a layer. `make image-test` also builds stand-ins for
compose's PostgreSQL and Redis images here (build_stand_ins, deploy/stand-ins).

    python -m deploy.images [--builder docker|buildah] [--base IMAGE | --local-base] [TARGET ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlsplit

from deploy.containers import (
    BUILDAH,
    ISOLATION,
    REPO,
    Failed,
    docker_answers,
    ensure_commands,
    image_names,
    image_size,
    inspect_image,
    local_name,
    megabytes,
    run,
)
from deploy.engine import build_env

TARGETS = ("api", "worker", "local")
BUILD_TIMEOUT = 3600  # seconds, per image: a cold worker build downloads TensorFlow
BASE_RECIPE = REPO / "deploy" / "debian-base.Containerfile"
BASE_CACHE = REPO / ".cache" / "images"
STAND_IN_DIR = REPO / "deploy" / "stand-ins"
# Compose's public PostgreSQL and Redis images, where no registry answers: Debian's own server
# packages, named as what they are. Service -> (the compose variable naming its image, name).
STAND_INS = {
    "postgres": ("POSTGRES_IMAGE", "tickercast-debian-postgres:15"),
    "redis": ("REDIS_IMAGE", "tickercast-debian-redis:7.0"),
}
SUITE = "bookworm"
# Python 3.11 with venv (for pip), CA certificates for HTTPS, useradd for the Dockerfile.
BASE_PACKAGES = ("python3.11", "python3-venv", "ca-certificates", "passwd")
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# pip settings that mean the same inside a build; the rest name paths of this machine.
PIP_KEYS = ("index-url", "extra-index-url", "trusted-host", "timeout", "retries", "proxy")
PIP_CA = "/run/secrets/pip-ca.crt"  # where the Dockerfile mounts the secret `pip-ca.crt`


def image_name(target: str) -> str:
    return f"tickercast-{target}"


def base_image_name(builder: str = "buildah") -> str:
    """The Debian base's name, tagged with a digest of its recipe: a changed recipe rebuilds."""
    recipe = BASE_RECIPE.read_bytes() + " ".join((SUITE, *BASE_PACKAGES)).encode()
    name = f"tickercast-base:{SUITE}-{hashlib.sha256(recipe).hexdigest()[:12]}"
    return name if builder == "docker" else f"localhost/{name}"


def docker_has(image: str) -> bool:
    inspect = ["docker", "image", "inspect", "-f", "{{.Id}}", image]
    return subprocess.run(inspect, capture_output=True, timeout=60).returncode == 0


def debian_base(builder: str) -> str:
    """The Debian base for `builder`, built here unless present; its name."""
    base = base_image_name(builder)
    present = docker_has(base) if builder == "docker" else inspect_image(base) is not None
    if not present:
        ensure_commands("debootstrap")
        print(f"building the Debian base {base} (once)", flush=True)
        build_base(builder, base)
    return base


def build_stand_ins(base: str) -> dict[str, str]:
    """The stand-ins for the public PostgreSQL and Redis images (deploy/stand-ins), built with
    Docker on the Debian base from Debian's packages: compose variable -> image name."""
    built = {}
    for service, (variable, name) in STAND_INS.items():
        print(f"building {name} (a stand-in for compose's {service} image)", flush=True)
        run(
            ["docker", "build", "--build-arg", f"BASE_IMAGE={base}", "-t", name]
            + ["-f", str(STAND_IN_DIR / f"{service}.Dockerfile"), str(STAND_IN_DIR)],
            timeout=BUILD_TIMEOUT,
            env=build_env(),
        )
        built[variable] = name
    return built


def unmount_below(path: Path) -> None:
    """Unmount whatever debootstrap left mounted in its root (/proc, /sys), so that deleting the
    root can never reach into the host's."""
    root = str(path.resolve())
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted(points, key=len, reverse=True):
        if point == root or point.startswith(root + "/"):
            run(["umount", "--lazy", point], timeout=60)


def rootfs_tar() -> Path:
    """Debian bookworm with Python 3.11 from deb.debian.org (DEBIAN_MIRROR), unpacked by
    debootstrap and packed as a tar, built once and kept in .cache/images (ignored by git and
    by the build context): every engine's base starts from it."""
    key = " ".join((SUITE, *BASE_PACKAGES, DEBIAN_MIRROR)).encode()
    tar = BASE_CACHE / f"debian-{SUITE}-{hashlib.sha256(key).hexdigest()[:12]}.tar"
    if tar.is_file():
        return tar
    BASE_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tickercast-base-", dir=BASE_CACHE) as tmp:
        rootfs = Path(tmp) / "rootfs"
        include = ",".join(BASE_PACKAGES)
        try:
            run(
                ["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(rootfs)]
                + [DEBIAN_MIRROR],
                timeout=1800,
            )
        finally:
            unmount_below(rootfs)
        # The downloaded packages and lists: 90 MB the image has no use for.
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        partial = Path(tmp) / "rootfs.tar"
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], timeout=900)
        partial.rename(tar)
    return tar


def build_base(builder: str, name: str) -> None:
    """The Dockerfile's base (deploy/debian-base.Containerfile on the Debian root), as `name`."""
    tar = rootfs_tar()
    with tempfile.TemporaryDirectory(prefix="tickercast-base-", dir=BASE_CACHE) as tmp:
        os.link(tar, Path(tmp) / "rootfs.tar")  # the recipe's context, without a copy
        if builder == "docker":
            argv = ["docker", "build", "-f", str(BASE_RECIPE), "-t", name, tmp]
            run(argv, timeout=1800, env=build_env())
            return
        run(
            [*BUILDAH, "bud", *ISOLATION, "--format", "docker", "-f", str(BASE_RECIPE)]
            + ["-t", name, tmp],
            timeout=1800,
        )


def pip_settings() -> dict[str, str]:
    """This machine's pip settings (files, then PIP_ variables), as `pip config list` has them."""
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    ordered: list[tuple[int, str, str]] = []
    for line in listing.splitlines():
        scope, _, rest = line.partition(".")
        key, _, value = rest.partition("=")
        rank = {"global": 0, "install": 1, ":env:": 2}.get(scope)
        if rank is not None:
            ordered.append((rank, key.replace("default-timeout", "timeout"), value.strip("'\"")))
    return {key: value for _, key, value in sorted(ordered, key=lambda item: item[0])}


@contextmanager
def pip_secrets() -> Iterator[list[str]]:
    """`--secret` options carrying the pip settings that apply inside a build: the package
    indexes reached over HTTP(S), and the CA bundle pip trusts (mounted at PIP_CA)."""
    settings = pip_settings()
    lines = []
    for key in PIP_KEYS:
        if key in settings:
            values = settings[key].split()
            if key.endswith("index-url"):
                values = [v for v in values if urlsplit(v).scheme in ("http", "https")]
            if values:
                lines.append(f"{key} = {' '.join(values)}")
    left_out = sorted(set(settings) - set(PIP_KEYS) - {"cert", "disable-pip-version-check"})
    if left_out:
        print(f"pip settings of this machine left out of the build: {', '.join(left_out)}")
    with tempfile.TemporaryDirectory(prefix="tickercast-pip-") as tmp:
        options = []
        cert = settings.get("cert")
        if cert and Path(cert).is_file():
            options += ["--secret", f"id=pip-ca.crt,src={cert}"]
            lines.append(f"cert = {PIP_CA}")
        if lines:
            conf = Path(tmp) / "pip.conf"
            conf.write_text("[global]\n" + "\n".join(lines) + "\n")
            options += ["--secret", f"id=pip.conf,src={conf}"]
        yield options


def copied_files() -> list[Path]:
    """The build context's files that the Dockerfile copies (COPY and ADD from the context),
    less what .dockerignore leaves out."""
    ignore = (REPO / ".dockerignore").read_text().split()
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    sources = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD"):
            if not any(word.startswith("--from") for word in words):
                sources += [REPO / word for word in words[1:-1] if not word.startswith("--")]
    files = []
    for source in sources:
        for path in [source] if source.is_file() else sorted(source.rglob("*")):
            parts = path.relative_to(REPO).parts
            if path.is_file() and not any(
                fnmatch(part, pattern.removeprefix("**/")) for part in parts for pattern in ignore
            ):
                files.append(path)
    return files


def inputs_digest(target: str, base_id: str) -> str:
    """A digest of everything a build of `target` reads: the base, the Dockerfile, the files
    it copies. An image tagged with it is up to date."""
    digest = hashlib.sha256(f"{target}\0{base_id}\0".encode())
    for path in [REPO / "Dockerfile", *copied_files()]:
        digest.update(f"{path.relative_to(REPO)}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def build(builder: str, target: str, base: str | None, secrets: list[str]) -> None:
    """Build one target of the Dockerfile."""
    print(f"building {image_name(target)} with {builder}", flush=True)
    args = ["--target", target, "-t", image_name(target), *secrets]
    if base:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    if builder == "docker":
        run(["docker", "build", *args, str(REPO)], timeout=BUILD_TIMEOUT, env=build_env())
        return
    # No --layers: with vfs every cached step costs a full copy of the image, so a rebuild
    # from cache takes most of the time of a build from nothing, and the cache fills the disk.
    # --format docker keeps HEALTHCHECK, which the OCI image format has no field for.
    options = ["--format", "docker", "-f", str(REPO / "Dockerfile")]
    before = set(working_containers())
    try:
        run([*BUILDAH, "bud", *ISOLATION, *options, *args, str(REPO)], timeout=BUILD_TIMEOUT)
    except Failed:
        # A failed build leaves its stage's container behind: with vfs, a copy of the image.
        for container in set(working_containers()) - before:
            run([*BUILDAH, "rm", container], timeout=900, capture=True)
        raise


def working_containers() -> list[str]:
    """The containers buildah keeps for builds in progress (or failed)."""
    listing = run(
        [*BUILDAH, "containers", "--format", "{{.ContainerName}}"], timeout=900, capture=True
    )
    return [name for name in listing.split() if name.endswith("-working-container")]


def build_unless_current(target: str, base: str, secrets: list[str]) -> bool:
    """Build a target with buildah unless its image is tagged with the digest of its inputs,
    and drop the image it replaces. Whether it built."""
    name = local_name(image_name(target))
    base_record = inspect_image(base)
    if base_record is None:  # a base still to be pulled: nothing to compare with
        build("buildah", target, base, secrets)
        return True
    digest = inputs_digest(target, base_record["FromImageID"])
    stamp = f"{name.rsplit(':', 1)[0]}:inputs-{digest}"
    current, stamped = inspect_image(name), inspect_image(stamp)
    if current and stamped and current["FromImageID"] == stamped["FromImageID"]:
        print(f"{image_name(target)} is up to date ({stamp})", flush=True)
        return False
    build("buildah", target, base, secrets)
    run([*BUILDAH, "tag", name, stamp], timeout=300)
    if current:  # its remaining names are old stamps; buildah deletes it with the last one
        for old in image_names(current["FromImageID"]):
            run([*BUILDAH, "rmi", old], timeout=900, capture=True)
    return True


def size(builder: str, target: str) -> str:
    if builder == "docker":
        inspect = ["docker", "image", "inspect", "-f", "{{.Size}}", image_name(target)]
        return megabytes(int(run(inspect, timeout=60, capture=True)))
    record = inspect_image(image_name(target))
    return megabytes(image_size(record)) if record else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "targets", nargs="*", metavar="TARGET", help=f"default: {' '.join(TARGETS)}"
    )
    parser.add_argument(
        "--builder",
        choices=["docker", "buildah"],
        default=os.environ.get("IMAGE_BUILDER") or None,
        help="default: docker where an engine answers, else buildah (or $IMAGE_BUILDER)",
    )
    parser.add_argument(
        "--base",
        default=os.environ.get("BASE_IMAGE") or None,
        help="base image (default: the Dockerfile's with docker, a local Debian one with buildah)",
    )
    parser.add_argument(
        "--local-base",
        action="store_true",
        help="with docker too, build on the Debian base made here (no registry needed)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(
            f"unknown targets {', '.join(sorted(unknown))}: choose from {', '.join(TARGETS)}"
        )
    builder = args.builder or ("docker" if docker_answers() else "buildah")
    timings: list[tuple[str, str]] = []
    try:
        base = args.base
        if builder == "buildah":
            ensure_commands("buildah")
        if base is None and (builder == "buildah" or args.local_base):
            started = time.monotonic()
            base = debian_base(builder)
            timings.append(("base", f"ready in {time.monotonic() - started:.0f} s"))
        with pip_secrets() as secrets:
            for target in args.targets or TARGETS:
                started = time.monotonic()
                if builder == "docker" or base is None:
                    build(builder, target, base, secrets)
                elif not build_unless_current(target, base, secrets):
                    timings.append((target, "up to date"))
                    continue
                timings.append((target, f"built in {time.monotonic() - started:.0f} s"))
    except Failed as exc:
        print(f"make images: {exc}", file=sys.stderr)
        return 1
    print(f"\n{builder}, base {base or 'from the Dockerfile'}")
    for name, how in timings:
        built = f"{size(builder, name):>9}" if name in TARGETS else " " * 9
        print(f"  {name:<7} {built}  {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
