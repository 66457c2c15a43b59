"""Dev boxes, the pure parts: names, public keys, port picking, the key tarball, the profile.d
environment script (run with the local bash, read back with sh), log line splitting, config."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncssh
import pytest
from pydantic import ValidationError

from clawtui.config import DevboxesConfig, Settings
from clawtui.engine.api.devbox_checks import (
    DevboxError,
    DevboxInputError,
    container_name,
    validate_name,
    validate_public_keys,
    volume_name,
)
from clawtui.engine.devboxes.checks import authorized_keys_tar, pick_port, ports_in_use
from clawtui.engine.devboxes.image import build_image, context_digest
from clawtui.engine.devboxes.manager import EXPORT_ENV, SUDO_ENV, Devboxes
from clawtui.engine.fleet.actions import LineSplitter

ROOT = Path(__file__).resolve().parents[2]
EXPORT_SCRIPT = ROOT / "docker" / "dev-container" / "export-env.sh"


def public_key(alg: str = "ssh-ed25519", comment: str = "me@laptop") -> str:
    key = asyncssh.generate_private_key(alg, comment=comment)
    return key.export_public_key().decode().strip()


# -- names ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["alice", "a", "bob-2", "x_y", "0day", "a" * 31])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name
    assert container_name(name) == f"dev-{name}"
    assert volume_name(name) == f"clawtui-dev-{name}-home"


@pytest.mark.parametrize(
    "name", ["", "Alice", "-a", "_a", "a" * 32, "a b", "a/b", "a.b", "ä", "a\n", "../x"]
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(DevboxInputError, match="invalid dev box name"):
        validate_name(name)


# -- public keys ----------------------------------------------------------------------------
def test_real_keys_of_every_common_type_are_accepted() -> None:
    keys = [
        public_key("ssh-ed25519"),
        public_key("ssh-rsa"),
        public_key("ecdsa-sha2-nistp256"),
        public_key("ecdsa-sha2-nistp384", comment="a comment with spaces"),
    ]
    text = "\ufeff# my keys\r\n\n" + "\r\n".join(keys) + "\n\n"
    assert validate_public_keys(text) == "\n".join(keys) + "\n"


def test_security_key_types_are_accepted() -> None:
    kind = b"sk-ssh-ed25519@openssh.com"
    blob = len(kind).to_bytes(4, "big") + kind + b"\x00\x00\x00\x20" + b"k" * 32
    line = f"sk-ssh-ed25519@openssh.com {base64.b64encode(blob).decode()} yubikey"
    assert validate_public_keys(line) == line + "\n"


def test_extra_spaces_are_normalized() -> None:
    key = public_key()
    kind, blob, comment = key.split(" ", 2)
    assert validate_public_keys(f"  {kind}   {blob}\t{comment}  ") == f"{kind} {blob} {comment}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no public key"),
        ("# only a comment\n\n", "no public key"),
        ("hello world", "not a supported key type"),
        ('command="/bin/sh" {key}', "not a supported key type"),
        ('from="10.0.0.1" {key}', "not a supported key type"),
        ("ssh-ed25519", "missing"),
        ("ssh-ed25519 !!!notbase64!!!", "not base64"),
        ("ssh-ed25519 AAAA", "too short"),
        ("{rsa_as_ed25519}", "does not hold a ssh-ed25519 key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
        ("{key}\x1b[31m", "control characters"),
        ("SHA256:abcdefghijklmnop", "not a supported key type"),
    ],
)
def test_bad_keys_are_refused_with_the_reason(text: str, message: str) -> None:
    key = public_key()
    rsa_blob = public_key("ssh-rsa").split()[1]
    text = text.format(key=key, rsa_as_ed25519=f"ssh-ed25519 {rsa_blob}")
    with pytest.raises(DevboxInputError, match=message):
        validate_public_keys(text)


def test_bad_line_is_named_by_number() -> None:
    with pytest.raises(DevboxInputError, match="line 3"):
        validate_public_keys(f"{public_key()}\n\nnot-a-key AAAA\n")


def test_key_limits() -> None:
    key = public_key()
    with pytest.raises(DevboxInputError, match="too many"):
        validate_public_keys("\n".join([key] * 101))
    with pytest.raises(DevboxInputError, match="larger than"):
        validate_public_keys(key + " " + "x" * 70_000)


def test_lenient_mode_accepts_any_printable_line_but_not_control_characters() -> None:
    assert validate_public_keys("whatever key format\n", strict=False) == "whatever key format\n"
    with pytest.raises(DevboxInputError, match="control"):
        validate_public_keys("x\x00y", strict=False)


# -- ports ----------------------------------------------------------------------------------
def test_pick_port_skips_used_and_busy_ports() -> None:
    assert pick_port(set(), 2201, 2299) == 2201
    assert pick_port({2201, 2202, 2204}, 2201, 2299) == 2203
    assert pick_port({2201}, 2201, 2299, is_free=lambda p: p != 2202) == 2203
    assert pick_port(set(range(2201, 2300)), 2201, 2299) is None
    assert pick_port({5}, 5, 5) is None
    assert pick_port(set(), 7, 7) == 7


def test_ports_in_use_reads_bindings_labels_and_stopped_containers() -> None:
    listed: list[Any] = [
        {
            "Id": "a" * 64,
            "Names": ["/web"],
            "State": "running",
            "Ports": [
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                {"PrivatePort": 9000, "Type": "tcp"},  # not published
            ],
            "Labels": {},
        },
        {
            "Id": "b" * 64,
            "Names": ["/dev-alice"],
            "State": "exited",
            "Ports": [],
            "Labels": {"clawtui.devbox.port": "2201"},
        },
        {"Id": "c" * 64, "Names": ["/junk"], "Ports": None, "Labels": {"clawtui.devbox.port": "x"}},
        "not a dict",
    ]
    inspected: list[Any] = [
        {
            "Name": "/stopped-db",
            "HostConfig": {
                "PortBindings": {
                    "5432/tcp": [{"HostIp": "", "HostPort": "2205"}],
                    "22/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],  # random port
                    "53/udp": None,
                }
            },
        },
        None,
        {"HostConfig": None},
    ]
    assert ports_in_use(listed, inspected) == {8080: "web", 2201: "dev-alice", 2205: "stopped-db"}


# -- the key tarball ------------------------------------------------------------------------
def test_authorized_keys_tar_modes_owner_and_content() -> None:
    text = validate_public_keys(public_key())
    data = authorized_keys_tar(text, 1000, 1001, mtime=1_700_000_000)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == [".ssh", ".ssh/authorized_keys"]
        folder, keys = members[".ssh"], members[".ssh/authorized_keys"]
        assert folder.isdir() and folder.mode == 0o700
        assert keys.isfile() and keys.mode == 0o600
        for member in (folder, keys):
            assert (member.uid, member.gid) == (1000, 1001)
            assert member.mtime == 1_700_000_000
        handle = tar.extractfile(keys)
        assert handle is not None and handle.read().decode() == text


# -- the profile.d environment script (docker/dev-container/export-env.sh) -------------------
NASTY = [
    "plain",
    "it's",
    "'",
    "''\\''",
    'double "quotes" and \\ backslash',
    "$HOME `id` $(id) ${PATH}",
    "two\nlines\n",
    "tab\there; semicolon & ampersand | pipe > redirect",
    "ünïcödé ✓",
    "",
    " leading and trailing ",
    "*",
]


def run_export(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    out = tmp_path / "profile.d" / "00-clawtui-env.sh"
    out.parent.mkdir(exist_ok=True)
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(
        ["bash", str(EXPORT_SCRIPT), str(out)],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out, proc.stderr


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("value", NASTY)
def test_exported_values_read_back_verbatim(tmp_path: Path, shell: str, value: str) -> None:
    out, _ = run_export(tmp_path, {"BROKER_SECRET": value})
    read = subprocess.run(
        [shell, "-c", f'. "{out}" && printf "%s" "$BROKER_SECRET"'],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert read.stdout == value


def test_export_allowlist(tmp_path: Path) -> None:
    out, stderr = run_export(
        tmp_path,
        {
            "CREDENTIAL_BROKER_URL": "http://broker:3000",
            "GITHUB_ORG": "acme",
            "GITHUB_APP_ID": "42",
            "NOT_LISTED": "x",
            "EXTRA_ONE": "1",
            "EXTRA_TWO": "2",
            "LD_PRELOAD": "/evil.so",
            "CLAWTUI_EXPORT_ENV": "EXTRA_ONE, EXTRA_TWO LD_PRELOAD PATH bad-name UNSET_ONE",
        },
    )
    text = out.read_text()
    exported = [line.split("=", 1)[0] for line in text.splitlines() if line.startswith("export ")]
    assert exported == [
        "export CREDENTIAL_BROKER_URL",
        "export GITHUB_APP_ID",
        "export GITHUB_ORG",
        "export EXTRA_ONE",
        "export EXTRA_TWO",
    ]
    assert "NOT_LISTED" not in text and "evil" not in text
    assert "skipping 'LD_PRELOAD'" in stderr and "skipping 'PATH'" in stderr
    assert "skipping 'bad-name'" in stderr
    assert out.stat().st_mode & 0o777 == 0o640
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_export_with_nothing_to_export_writes_an_empty_script(tmp_path: Path) -> None:
    out, _ = run_export(tmp_path, {})
    assert [line for line in out.read_text().splitlines() if not line.startswith("#")] == []


# -- the environment a dev box is created with ------------------------------------------------
def devboxes(**cfg: Any) -> Devboxes:
    settings = Settings(devboxes=DevboxesConfig(**cfg))
    return Devboxes(SimpleNamespace(settings=settings), actions=None)  # type: ignore[arg-type]


def test_environment_lists_extra_names_for_the_entrypoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_SECRET", "s3cret")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    boxes = devboxes(
        env={"CREDENTIAL_BROKER_URL": "http://broker:3000", "TEAM": "core"},
        env_passthrough=["BROKER_SECRET", "NOT_SET_ANYWHERE"],
    )
    env = boxes._environment({"GITHUB_ORG": "acme", "EDITOR": "vim"}, sudo=False)
    assert env == {
        "CREDENTIAL_BROKER_URL": "http://broker:3000",
        "TEAM": "core",
        "BROKER_SECRET": "s3cret",
        "GITHUB_ORG": "acme",
        "EDITOR": "vim",
        EXPORT_ENV: "EDITOR TEAM",
    }
    assert boxes._environment(None, sudo=True) == {
        "CREDENTIAL_BROKER_URL": "http://broker:3000",
        "TEAM": "core",
        "BROKER_SECRET": "s3cret",
        EXPORT_ENV: "TEAM",
        SUDO_ENV: "1",
    }
    for bad in ({"CLAWTUI_DEV_SUDO": "1"}, {"bad name": "x"}, {"X": "nul\x00"}):
        with pytest.raises(DevboxInputError):
            boxes._environment(bad, sudo=False)


def test_memory_argument() -> None:
    boxes = devboxes(memory="1g")
    assert boxes._memory(None) == 1 << 30
    assert boxes._memory("512m") == 512 << 20
    with pytest.raises(DevboxInputError, match="too small"):
        boxes._memory("1m")
    with pytest.raises(DevboxInputError, match="invalid memory"):
        boxes._memory("lots")


# -- config -----------------------------------------------------------------------------------
def test_config_defaults() -> None:
    cfg = Settings().devboxes
    assert cfg.image == "clawtui/dev-container:1"
    assert cfg.port_bounds == (2201, 2299)
    assert cfg.bind_address == "127.0.0.1"
    assert (cfg.memory, cfg.cpus, cfg.pids_limit, cfg.validate_keys) == (2 << 30, 2.0, 512, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port_range", "2299-2201", "LOW may not exceed HIGH"),
        ("port_range", "0-10", "1-65535"),
        ("port_range", "2201", "LOW-HIGH"),
        ("bind_address", "localhost", "IP address"),
        ("env", {"PATH": "/x"}, "set by clawtui"),
        ("env", {"1BAD": "x"}, "invalid environment variable name"),
        ("env_passthrough", ["CLAWTUI_DEV_SUDO"], "set by clawtui"),
        ("memory", "1m", "greater than or equal"),
        ("pids_limit", 0, "greater than or equal"),
    ],
)
def test_config_errors(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DevboxesConfig(**{field: value})


# -- build context digest ----------------------------------------------------------------------
def test_context_digest_follows_files_and_build_args(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.sh").write_text("echo a\n")
    first = context_digest(tmp_path, "Dockerfile", {})
    assert context_digest(tmp_path, "Dockerfile", {}) == first
    assert context_digest(tmp_path, "Dockerfile", {"INSTALL_CLAUDE": "1"}) != first
    (tmp_path / "sub" / "a.sh").chmod(0o755)
    second = context_digest(tmp_path, "Dockerfile", {})
    assert second != first
    (tmp_path / "sub" / "a.sh").write_text("echo b\n")
    assert context_digest(tmp_path, "Dockerfile", {}) not in (first, second)


# -- log lines --------------------------------------------------------------------------------
def test_line_splitter_joins_chunks_and_replaces_bad_bytes() -> None:
    split = LineSplitter(max_line=16)
    assert split.feed(b"one\ntw") == ["one"]
    assert split.feed(b"o\r\nthr") == ["two"]
    assert split.feed("ee\n") == ["three"]  # tty streams arrive as text
    assert split.feed(b"bad \xff\xfe\n\xe2\x9c") == ["bad \ufffd\ufffd"]
    assert split.feed(b"\x93\n") == ["✓"]  # a character split across chunks
    assert split.feed(b"x" * 40) == ["x" * 16, "x" * 16]
    assert split.flush() == "x" * 8
    assert split.flush() is None


# -- reading a build stream ---------------------------------------------------------------------
class FakeBuildClient:
    """Replays a build stream as Docker sends it (the parsing is what is tested here)."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks
        self.kwargs: dict[str, Any] = {}

    def build(self, **kwargs: Any) -> Iterator[Any]:
        self.kwargs = kwargs
        return iter(self.chunks)


def run_build(chunks: list[Any]) -> tuple[str, list[str], dict[str, Any]]:
    client = FakeBuildClient(chunks)
    lines: list[str] = []
    image_id = build_image(
        client,
        context=Path("/ctx"),
        dockerfile="Dockerfile.dev-container",
        tag="t:1",
        build_args={"INSTALL_CLAUDE": "0"},
        labels={"clawtui.devbox.build": "abc"},
        on_line=lines.append,
        timeout=99,
    )
    return image_id, lines, client.kwargs


def test_build_stream_lines_and_image_id() -> None:
    image_id, lines, kwargs = run_build(
        [
            {"stream": "Step 1/2 : FROM x\n"},
            {"stream": " ---> 1234\n\n"},
            "garbage",
            {"aux": {"ID": "sha256:feed"}},
            {"stream": "Successfully built feed\n"},
        ]
    )
    assert image_id == "sha256:feed"
    assert lines == ["Step 1/2 : FROM x", " ---> 1234", "Successfully built feed"]
    assert kwargs["pull"] is False and kwargs["rm"] is True and kwargs["timeout"] == 99
    assert kwargs["buildargs"] == {"INSTALL_CLAUDE": "0"}
    assert kwargs["labels"] == {"clawtui.devbox.build": "abc"}


def test_build_without_aux_uses_the_success_line() -> None:
    assert run_build([{"stream": "Successfully built 0123abcd\n"}])[0] == "0123abcd"


def test_build_error_and_cut_stream_are_errors() -> None:
    with pytest.raises(DevboxError, match="building t:1 failed: E: Unable to locate package"):
        run_build([{"stream": "Step 1/2\n"}, {"error": "E: Unable to locate package x\n"}])
    with pytest.raises(DevboxError, match="without producing an image"):
        run_build([{"stream": "Step 1/2\n"}])


def test_default_build_context_is_this_repositorys_docker_folder() -> None:
    """The engine builds the dev image from the docker/ folder of the source tree it runs from
    (it pointed at clawtui/docker, which does not exist, after the engine moved a level down)."""
    from clawtui.engine.devboxes.image import default_build_context

    context = default_build_context()
    assert (context / "Dockerfile.dev-container").is_file()
    assert (context / "dev-container" / "git-credential-broker").is_file()
