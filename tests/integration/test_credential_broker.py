"""The dev box's git credential helper against a real broker stand-in container (seed 000).

A broker stand-in (tests/integration/broker_standin: the local debian-base image and a perl
script answering like TinyClaw's broker/index.js, lucianHymer/tinyclaw b64de8c: 401 without the
right bearer, {"token": ...} with it; it mints fake tokens instead of asking GitHub) runs on a
test Docker network as `broker`. A dev box joins that network through `[devboxes] network`, gets
the installations map through `[devboxes] github_installations`, and `git credential fill` in it
returns the broker's token for the org of the path; with a wrong secret git gets a clear failure
and no token. A dev box on a network that does not exist is refused, naming it.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.engine.api.devbox_checks import DevboxError
from clawtui.engine.core import Engine
from tests.integration.test_devboxes import (  # fixtures and helpers, no tests
    box_names,  # noqa: F401
    devbox_settings,
    new_name,  # noqa: F401
    user_key,
)

pytestmark = pytest.mark.timeout(600)
STANDIN = Path(__file__).parent / "broker_standin"
STANDIN_IMAGE = "clawtui-test/broker-standin:1"
SECRET = "broker-secret-" + secrets.token_hex(8)
IMAGE = "clawtui/dev-container:credential-broker-test"


def exec_as_dev(
    api: docker.APIClient, cid: str, script: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    exec_id = api.exec_create(cid, ["bash", "-c", script], user="dev", environment=env)
    out = api.exec_start(exec_id)
    code = api.exec_inspect(exec_id)["ExitCode"]
    return int(code), out.decode() if isinstance(out, bytes) else str(out)


FILL = (
    "printf 'protocol=https\\nhost=github.com\\npath=%s\\n\\n' {path} "
    "| GIT_TERMINAL_PROMPT=0 git credential fill"
)


async def test_git_credential_fill_gets_the_brokers_token(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    new_name: Any,  # noqa: F811
    debian_base_image: str,
) -> None:
    for _ in docker_api.build(path=str(STANDIN), tag=STANDIN_IMAGE, pull=False, rm=True):
        pass
    net = f"clawtui-test-broker-{secrets.token_hex(3)}"
    docker_api.create_network(net, labels=test_labels)
    broker: dict[str, Any] | None = None
    try:
        broker = docker_api.create_container(
            STANDIN_IMAGE,
            environment={"BROKER_SECRET": SECRET},
            labels=test_labels,
            host_config=docker_api.create_host_config(network_mode=net),
            networking_config=docker_api.create_networking_config(
                {net: docker_api.create_endpoint_config(aliases=["broker"])}
            ),
        )
        docker_api.start(broker["Id"])
        installations = tmp_path / "github-installations.json"
        installations.write_text(json.dumps({"acme": 4242, "other-org": 7}))
        installations.chmod(0o644)
        settings = devbox_settings(
            tmp_path / "state",
            network=net,
            github_installations=installations,
            image=IMAGE,  # its own tag: the shared engine's default tag may be rebuilt by others
        )
        engine = Engine(settings)
        await engine.start()
        try:
            assert await engine.wait_online(15)
            await engine.devboxes.ensure_image()
            _key, pub = user_key()
            box = await engine.devboxes.create(
                new_name("cred"),
                pub,
                labels=test_labels,
                env={"CREDENTIAL_BROKER_URL": "http://broker:3000", "BROKER_SECRET": SECRET},
            )
            cid = box.key.split("/", 1)[1]
            networks = docker_api.inspect_container(cid)["NetworkSettings"]["Networks"]
            assert net in networks
            code, out = exec_as_dev(docker_api, cid, FILL.format(path="acme/widgets.git"))
            assert code == 0, out
            assert "username=x-access-token\n" in out and "password=ghs_standin_4242\n" in out
            code, out = exec_as_dev(docker_api, cid, FILL.format(path="other-org/x.git"))
            assert code == 0 and "password=ghs_standin_7\n" in out, out
            # the system identity is there for commits
            code, out = exec_as_dev(docker_api, cid, "git config user.name; git config user.email")
            assert (code, out) == (0, "Dev\ndev@clawtui\n")
            # a wrong secret: a clear failure, and no token anywhere in what git printed
            code, out = exec_as_dev(
                docker_api, cid, FILL.format(path="acme/widgets.git"), {"BROKER_SECRET": "wrong"}
            )
            assert code != 0
            assert "the credential broker refused: HTTP 401" in out, out
            assert "ghs_standin" not in out and "password=" not in out
            # an org without an installation: said so, no token
            code, out = exec_as_dev(docker_api, cid, FILL.format(path="nobody/x.git"))
            assert code != 0 and "no GitHub App installation for org 'nobody'" in out, out
            logs = docker_api.logs(broker["Id"]).decode()
            assert "installation_id=4242 HTTP/1.1 -> 200 OK" in logs
            assert "-> 401 Unauthorized" in logs
            assert SECRET not in logs
            # a network that does not exist is named before anything is created
            engine.settings.devboxes.network = "clawtui-no-such-network"
            with pytest.raises(DevboxError, match=r"'clawtui-no-such-network'.*does not exist"):
                await engine.devboxes.create(new_name("nonet"), pub, labels=test_labels)
        finally:
            await engine.stop()
    finally:
        if broker is not None:
            docker_api.remove_container(broker["Id"], force=True)
        for c in docker_api.containers(all=True, filters={"network": net}):
            if c["Labels"].get(next(iter(test_labels))) == next(iter(test_labels.values())):
                docker_api.remove_container(c["Id"], force=True, v=True)
        docker_api.remove_network(net)
