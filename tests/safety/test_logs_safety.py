"""`-v` is commonmode's own debug log; SDK wire logs only with --debug-sdk, and then redacted (issue 12, 7).

Against moto's server: the scan assumes an audit role in a member account, so STS answers with session
credentials, and every later request carries them in X-Amz-Security-Token."""

from __future__ import annotations

import os
import re

import boto3
import pytest

from tests.connectors.conftest import aws, moto_server  # noqa: F401 — the moto fixtures
from tests.safety.conftest import commonmode

SECRET_KEY = "canary-secret-access-key-91c2e7"  # the scanner's own secret key: never in a log


def _seed_member(endpoint: str) -> str:
    org = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    return org.create_account(AccountName="dr", Email="dr@example.com")["CreateAccountStatus"]["AccountId"]


@pytest.fixture
def org_config(aws, tmp_path):  # noqa: F811
    member = _seed_member(aws)
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[aws]]\nname = "org"\nendpoint_url = "{aws}"\n'
                   f'assume_role = "OrganizationAccountAccessRole"\naccounts = ["{member}"]\n')
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    return cfg, env


@pytest.mark.parametrize("flags", [["-v"], ["-v", "--debug-sdk"]])
def test_verbose_and_sdk_debug_logs_carry_no_credential(org_config, flags):
    cfg, env = org_config
    proc = commonmode("scan", "-c", str(cfg), "--no-progress", *flags, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stderr
    assert "DEBUG commonmode" in log  # -v is on: commonmode's own debug log
    assert SECRET_KEY not in log
    assert not re.search(r"FQoGZXIvYXdzE[\w/+=]{8,}", log)  # moto's session tokens
    values = [*re.findall(r"<(?:SecretAccessKey|SessionToken)>(.*?)</", log),
              *re.findall(r"""'X-Amz-Security-Token': b?'(.*?)'""", log)]
    assert all(v == "[redacted]" for v in values), values
    if "--debug-sdk" in flags:
        assert "DEBUG botocore" in log  # the wire log is there ...
        assert len(values) >= 2  # ... with the STS answer and the assumed session's requests, redacted
    else:
        assert "DEBUG botocore" not in log and "DEBUG urllib3" not in log
