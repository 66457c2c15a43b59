"""The dev-container image: build it from docker/ and know when a built image is out of date.

The image is built with the classic builder through the Docker API (never pulled: no registry
may answer), tagged `[devboxes] image`, and labelled with a digest of its build context; when the
context changes (an edited entrypoint, a new build argument) the engine rebuilds it, and the
layer cache makes that quick.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.devbox_checks import LABEL_MANAGED, DevboxError
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.actions import docker_error_text

if TYPE_CHECKING:
    from clawtui.config import DevboxesConfig
    from clawtui.engine.api.devboxes import Progress
    from clawtui.engine.context import ActivityLog
    from clawtui.engine.fleet.hosts import HostMonitor

LABEL_BUILD = "clawtui.devbox.build"
"""On the image: digest of the build context it was built from (a changed context rebuilds)."""
LABEL_UID = "clawtui.devbox.uid"
"""On the image: uid (= gid) of the `dev` user (set by the Dockerfile)."""
DEFAULT_DEV_UID = 1000
_CONTEXT_MAX_BYTES = 64 * 1024 * 1024
_BUILT = "Successfully built "


def context_digest(context: Path, dockerfile: str, build_args: Mapping[str, str]) -> str:
    """A digest of everything a build of the image depends on: every file of the context
    (path, mode bit for executables, content), the Dockerfile name and the build arguments."""
    digest = hashlib.sha256()
    digest.update(f"dockerfile={dockerfile}\0".encode())
    for key in sorted(build_args):
        digest.update(f"arg {key}={build_args[key]}\0".encode())
    total = 0
    for path in sorted(p for p in context.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(context).as_posix()
        content = path.read_bytes()
        total += len(content)
        if total > _CONTEXT_MAX_BYTES:
            raise DevboxError(f"the build context {context} is larger than 64 MiB")
        executable = os.access(path, os.X_OK)
        digest.update(f"file {rel} {int(executable)} {len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:32]


def default_build_context() -> Path:
    """docker/ of the source tree this package is in."""
    return Path(__file__).resolve().parents[3] / "docker"


def build_image(
    client: Any,
    *,
    context: Path,
    dockerfile: str,
    tag: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    on_line: Callable[[str], None],
    timeout: float = 1800.0,
) -> str:
    """Build `tag` with the classic builder (blocking: run it in a thread); returns the image id.

    Progress lines go to `on_line` as Docker sends them. Never pulls: the base image must be on
    the host (no registry may answer). A build error raises DevboxError with Docker's message.
    """
    try:
        stream = client.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=dict(build_args),
            labels=dict(labels),
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            timeout=timeout,
        )
        image_id: str | None = None
        for chunk in stream:
            if not isinstance(chunk, dict):
                continue
            error = chunk.get("error")
            if error:
                raise DevboxError(f"building {tag} failed: {str(error).strip()}")
            text = chunk.get("stream") or chunk.get("status")
            if isinstance(text, str):
                for line in text.splitlines():
                    if line.strip():
                        on_line(line.rstrip())
                    if line.startswith(_BUILT) and image_id is None:
                        image_id = line[len(_BUILT) :].strip()
            aux = chunk.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
    except docker.errors.DockerException as exc:
        raise DevboxError(f"building {tag} failed: {docker_error_text(exc)}") from None
    except OSError as exc:  # the connection broke (dockerd restarted?)
        raise DevboxError(f"building {tag} failed: the build stream broke: {exc}") from None
    if not image_id:
        # Docker always ends a good build with the image id; without it the build was cut
        # short (dockerd stopped under it) and the tag may still name an older image.
        raise DevboxError(f"building {tag} failed: the build ended without producing an image")
    return image_id


async def ensure_image(
    monitor: HostMonitor,
    client: Any,
    cfg: DevboxesConfig,
    lock: asyncio.Lock,
    say: Progress,
    log_activity: ActivityLog,
) -> dict[str, Any]:
    """Inspect of the dev-box image on `monitor`'s host, built first when missing or out of date
    (one build per host at a time: `lock`).

    An image that carries a build digest (LABEL_BUILD) different from the build context's is
    rebuilt (the layer cache makes that quick); an image without one was made by someone
    else and is used as it is.
    """
    tag = cfg.image
    context = cfg.build_context or default_build_context()
    has_context = (context / cfg.dockerfile).is_file()
    async with lock:
        digest = (
            await asyncio.to_thread(context_digest, context, cfg.dockerfile, cfg.build_args)
            if has_context
            else None
        )
        try:
            image: dict[str, Any] | None = await monitor.call(client.inspect_image, tag)
        except docker.errors.ImageNotFound:
            image = None
        old_id: str | None = None
        if image is not None:
            built_from = ((image.get("Config") or {}).get("Labels") or {}).get(LABEL_BUILD)
            if built_from is None or digest is None or built_from == digest:
                return image
            old_id = image.get("Id")
            say(f"image {tag} is out of date (its build context changed): rebuilding")
        elif digest is None:
            raise DevboxError(
                f"image {tag} is missing on host {monitor.name} and there is nothing to "
                f"build it from ({context / cfg.dockerfile} not found); set [devboxes] "
                "build_context or load the image"
            )
        say(f"building image {tag} on host {monitor.name} from {context / cfg.dockerfile}")
        started = time.monotonic()
        loop = asyncio.get_running_loop()

        def on_line(line: str) -> None:
            loop.call_soon_threadsafe(say, line)

        assert digest is not None
        await monitor.call(
            build_image,
            client,
            context=context,
            dockerfile=cfg.dockerfile,
            tag=tag,
            build_args=cfg.build_args,
            labels={LABEL_BUILD: digest, LABEL_MANAGED: "1"},
            on_line=on_line,
            timeout=cfg.build_timeout,
        )
        await asyncio.sleep(0)  # let the last progress lines through first
        say(f"image {tag} built in {time.monotonic() - started:.0f}s")
        log_activity("info", f"built image {tag}", host=monitor.name)
        if old_id:  # the replaced image is now untagged: do not leave it behind
            try:
                await monitor.call(client.remove_image, old_id)
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.DockerException as exc:  # in use by a container, say
                note = f"the replaced image {old_id[7:19]} was kept: {docker_error_text(exc)}"
                say(note)
                log_activity("warning", note, host=monitor.name)
        result: dict[str, Any] = await monitor.call(client.inspect_image, tag)
        return result
