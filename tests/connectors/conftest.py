"""Local backends shared by the connector tests. AWS: moto's server on 127.0.0.1 (started by the sandbox's one
server starter, commonmode_sandbox.servers), reached by boto3 through `endpoint_url`.

AWS managed policies are loaded (MOTO_IAM_LOAD_MANAGED_POLICIES) so that the real managed-policy documents
moto ships are the corpus the engine is judged on. State is reset before each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from commonmode_sandbox import servers


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = servers.start_moto(managed_policies=True)
    yield server.url
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto server and the environment a user's scan would run with (dummy keys, no profile)."""
    servers.reset_moto(moto_server)
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    yield moto_server
