"""The Docker SDK (`docker`), imported when a capability first uses it, not when the engine is
imported: the SDK pulls in requests, urllib3 and, when installed, paramiko and cryptography.

Capabilities write `from clawtui.engine.docker_sdk import docker` and use `docker.errors...`,
`docker.types...`, `docker.api.client.APIClient` as with the SDK itself (an `except` clause
names its exception class only when an exception is matched). Type checkers see the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker as docker
    import docker.api.client
    import docker.errors
    import docker.types
else:

    class _DockerSDK:
        """Stands for the `docker` package until an attribute is asked for."""

        def __getattr__(self, name: str) -> Any:
            import docker.api.client
            import docker.errors
            import docker.types

            return getattr(docker, name)

    docker = _DockerSDK()

__all__ = ["docker"]
