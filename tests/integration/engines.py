"""Extra Docker engines on this machine, for tests (and benchmarks) that need several hosts.

`ExtraEngine` runs one more dockerd beside the system one, with everything of its own: a
``--data-root``, ``--exec-root``, ``--pidfile`` and unix socket under a temporary folder, and a
bridge made for it (``ip link add NAME type bridge`` + an address) passed as ``--bridge NAME``,
with ``--iptables=false --ip-masq=false``. Never ``--bridge=none``: a second dockerd started
that way deletes the system engine's ``docker0``. Optionally it also listens on
``tcp://127.0.0.1:PORT`` with ``--tlsverify`` (certificates from `make_tls`, made with openssl).

Images come from the system engine (``docker save | docker -H unix://SOCK load``), never from a
registry. `ExtraEngine.kill` sends SIGKILL (what a crashed host looks like), `start` brings it
back on the same data root, `close` stops it and removes its bridge, mounts and folders.

A process that dies before `close` (a crashed or killed test session) leaves its engine behind:
each root folder records its owner's pid and its bridge (``owner`` and ``bridge`` files), and
`sweep_stale_engines` (run when a session starts) removes the engines whose owner is gone,
never one a live process (another session, a benchmark) still owns.

Needs root (ip link, dockerd); the test machine runs the suite as root.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker

SYSTEM_DOCKER = "unix:///var/run/docker.sock"
DOCKER_CLI = shutil.which("docker") or "docker"
DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def make_tls(folder: Path) -> TlsFiles:
    """A CA, a server certificate (SAN IP:127.0.0.1, serverAuth) and a client certificate
    (clientAuth), both signed by the CA, as dockerd's --tlsverify expects."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("genrsa", "-out", "ca-key.pem", "2048", cwd=folder)
    _openssl(
        "req", "-new", "-x509", "-days", "2", "-key", "ca-key.pem", "-sha256",
        "-subj", "/CN=clawtui test CA", "-out", "ca.pem", cwd=folder,
    )  # fmt: skip
    for who, ext in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ):
        _openssl("genrsa", "-out", f"{who}-key.pem", "2048", cwd=folder)
        _openssl(
            "req", "-new", "-key", f"{who}-key.pem", "-subj", f"/CN=clawtui test {who}",
            "-out", f"{who}.csr", cwd=folder,
        )  # fmt: skip
        (folder / f"{who}.ext").write_text(ext)
        _openssl(
            "x509", "-req", "-days", "2", "-sha256", "-in", f"{who}.csr", "-CA", "ca.pem",
            "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", f"{who}-cert.pem",
            "-extfile", f"{who}.ext", cwd=folder,
        )  # fmt: skip
    for key in folder.glob("*-key.pem"):
        key.chmod(0o600)
    return TlsFiles(
        ca=folder / "ca.pem",
        server_cert=folder / "server-cert.pem",
        server_key=folder / "server-key.pem",
        client_cert=folder / "client-cert.pem",
        client_key=folder / "client-key.pem",
    )


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False
    ).stdout
    nets: list[ipaddress.IPv4Network] = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.IPv4Interface(parts[parts.index("inet") + 1]).network)
    return nets


def _free_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 10.x.y.0/24 subnet for a test bridge")


class ExtraEngine:
    """One more dockerd on this machine (see the module docstring)."""

    def __init__(self, name: str, *, tls: TlsFiles | None = None, base: Path | None = None):
        self.name = name
        self.root = Path(tempfile.mkdtemp(prefix=f"clawtui-dockerd-{name}-", dir=base))
        self.bridge = f"ctb{uuid.uuid4().hex[:8]}"  # interface names: 15 characters at most
        self.subnet = _free_subnet()
        self.socket = self.root / "docker.sock"
        self.tls = tls
        self.tcp_port = free_tcp_port() if tls is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self._bridge_made = False
        # Read by sweep_stale_engines when this process dies before close().
        (self.root / "owner").write_text(f"{os.getpid()}\n")
        (self.root / "bridge").write_text(f"{self.bridge}\n")

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def tcp_url(self) -> str:
        if self.tcp_port is None:
            raise RuntimeError(f"engine {self.name} was started without TLS/TCP")
        return f"tcp://127.0.0.1:{self.tcp_port}"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def _make_bridge(self) -> None:
        if self._bridge_made:
            return
        gateway = f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}"
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        self._bridge_made = True
        subprocess.run(["ip", "addr", "add", gateway, "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    def start(self, timeout: float = 60.0) -> None:
        """Start dockerd (again, on the same data root after `kill`) and wait until it answers."""
        self._make_bridge()
        args = [
            DOCKERD,
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'docker.pid'}",
            f"--host={self.url}",
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--userland-proxy=false",
        ]
        if self.tls is not None:
            args += [
                f"--host={self.tcp_url}",
                "--tlsverify",
                f"--tlscacert={self.tls.ca}",
                f"--tlscert={self.tls.server_cert}",
                f"--tlskey={self.tls.server_key}",
            ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dockerd {self.name} exited {self.proc.returncode}: {self._log_tail()}"
                )
            if self.ping():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd {self.name} did not answer in {timeout}s")
            time.sleep(0.1)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""

    def api(self, timeout: int = 60) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, version="auto", timeout=timeout)

    def ping(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            api = self.api(timeout=5)
            try:
                return bool(api.ping())
            finally:
                api.close()
        except Exception:
            return False

    def load_image(self, tag: str, source: str = SYSTEM_DOCKER) -> None:
        """Copy an image from the system engine (``docker save | docker load``; no registry)."""
        save = subprocess.Popen(
            [DOCKER_CLI, "-H", source, "save", tag],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        load = subprocess.run(
            [DOCKER_CLI, "-H", self.url, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            check=False,
            timeout=300,
        )
        if save.stdout is not None:
            save.stdout.close()
        save.wait(timeout=60)
        if save.returncode != 0 or load.returncode != 0:
            raise RuntimeError(f"loading {tag} into {self.name} failed: {load.stderr!r}")

    def kill(self) -> None:
        """SIGKILL dockerd, its containerd and the container shims (a host that crashed or
        lost power) and wait until they are gone.

        An orphaned containerd or shim left running makes the next dockerd on this exec root
        wait for it (and fail, or take 10 s), so they go too."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        leftovers = self._leftover_pids()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in leftovers):
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd/shims of {self.name} survived SIGKILL")
            time.sleep(0.05)
        # Stale pid files (a rebooted machine loses them with /run): dockerd would otherwise
        # wait for a "still running" containerd whose pid the kernel may have given away.
        (self.root / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)
        (self.root / "docker.pid").unlink(missing_ok=True)

    def _stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def _leftover_pids(self) -> list[int]:
        """containerd and shims of this engine (their command lines name our exec root)."""
        return _pids_naming(self.root)

    def close(self) -> None:
        """Remove every container, stop dockerd, then its processes, mounts, bridge and folder."""
        if self.proc is not None and self.proc.poll() is None and self.ping():
            with contextlib.suppress(Exception):
                api = self.api(timeout=30)
                for c in api.containers(all=True):
                    with contextlib.suppress(Exception):
                        api.remove_container(c["Id"], force=True, v=True)
                api.close()
        self._stop()
        _remove_engine_root(self.root, self.bridge if self._bridge_made else None)
        self._bridge_made = False


def _pids_naming(root: Path) -> list[int]:
    """Processes (dockerd, containerd, shims) whose command line names `root`."""
    marker = str(root)
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if marker in cmdline and int(entry.name) != os.getpid():
                pids.append(int(entry.name))
    return pids


def _remove_engine_root(root: Path, bridge: str | None) -> None:
    """SIGKILL what still runs from `root`, unmount under it, delete `bridge` and the folder."""
    for pid in _pids_naming(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            target = line.split()[1]
            if target == str(root) or target.startswith(f"{root}/"):
                mounts.append(target)
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    if bridge:
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_engines(base: Path | None = None) -> list[Path]:
    """Remove the extra engines (under `base`, default the temp folder) whose owning process
    is gone: what a crashed session left (dockerd, containerd, shims, mounts, bridge, folder).
    An engine without an owner file is left alone (not ours to judge). Returns what it removed."""
    removed: list[Path] = []
    for root in sorted(Path(base or tempfile.gettempdir()).glob("clawtui-dockerd-*")):
        try:
            owner = int((root / "owner").read_text().strip())
            bridge = (root / "bridge").read_text().strip()
        except (OSError, ValueError):
            continue
        if _alive(owner) or not re.fullmatch(r"ctb[0-9a-f]{8}", bridge):
            continue
        _remove_engine_root(root, bridge)
        removed.append(root)
    return removed


def container_ip(api: docker.APIClient, cid: str) -> str:
    ip: str = api.inspect_container(cid)["NetworkSettings"]["IPAddress"]
    return ip
