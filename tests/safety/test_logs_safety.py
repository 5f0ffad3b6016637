"""`-v` is commonmode's own debug log; SDK wire logs only with --debug-sdk, and then redacted (issue 12, 7).

Against moto's server: the scan assumes an audit role in a member account, so STS answers with session
credentials, and every later request carries them in X-Amz-Security-Token."""

from __future__ import annotations

import os
import re

import boto3
import pytest
from tests.safety.conftest import commonmode

SECRET_KEY = "canary-secret-access-key-91c2e7"  # the scanner's own secret key: never in a log


def _seed_member(endpoint: str) -> str:
    org = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    return org.create_account(AccountName="dr", Email="dr@example.com")["CreateAccountStatus"]["AccountId"]


@pytest.fixture
def org_config(aws, tmp_path):
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


def test_canaries_appear_in_no_output_and_no_log_even_with_sdk_debug(aws, bao, tmp_path):
    """The planted secret values of the AWS and Vault test estates, and the scanner's own Vault token,
    appear nowhere: not in stdout, not in stderr with -v --debug-sdk, not in the database."""
    from tests.connectors.aws.seed import CANARY
    from tests.connectors.aws.seed import seed as seed_aws
    from tests.connectors.vault.seed import canary
    from tests.connectors.vault.seed import seed as seed_vault

    seed_aws(aws)
    token = "canary-scanner-token-4e7a1c"
    import hvac

    hvac.Client(url=bao, token="root").auth.token.create(id=token, policies=["root"])
    seed_vault(bao, "arn:aws:iam::123456789012:user/dns-bot")
    cfg = tmp_path / "commonmode.toml"
    cfg.write_text(f'[store]\npath = "cm.db"\n\n[[aws]]\nname = "prod"\nendpoint_url = "{aws}"\n\n'
                   f'[[vault]]\nname = "ops"\nurl = "{bao}"\n')
    env = dict(os.environ, VAULT_TOKEN=token)
    proc = commonmode("scan", "-c", str(cfg), "--no-progress", "-v", "--debug-sdk", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DEBUG botocore" in proc.stderr and "DEBUG urllib3" in proc.stderr  # the wire logs were on
    dump = (tmp_path / "cm.db").read_bytes()
    for value in (CANARY, canary("dns/primary"), canary("dns/backup"), canary("legacy"), token):
        assert value not in proc.stdout and value not in proc.stderr, value
        assert value.encode() not in dump, value
