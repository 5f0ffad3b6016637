"""The AWS connector: IAM identities with exact policy evaluation, Route 53 failover discovery, Secrets
Manager, SSM Parameter Store and ACM metadata. Read-only (client.READ_ONLY_OPERATIONS); never reads a
secret value. Config (`[[aws]]`): connectors/commonmode_aws/README.md.

The shape every connector follows (docs/connectors.md): this module holds the Connector class (its
options in options.py); client.py the client factory and error hook; collect.py the calls and the collection loop;
snapshot.py what it returns; build.py and the modules it names the inventory; policy.py the evaluation.
"""

from __future__ import annotations

from commonmode.connector import ConnectorResult, ConnectorSettings, ProgressFn
from commonmode.kit import CallPolicy, KitConnector
from commonmode_aws.options import OPTIONS

__all__ = ["OPTIONS", "AwsConnector"]


class AwsConnector(KitConnector):
    """`[[aws]]`: one AWS account, or an organization's accounts through an audit role."""

    provider = "aws"
    options = OPTIONS

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        self.region: str = self.values["region"]
        self.regions: list[str] = list(self.values.get("regions") or [self.region])
        self.endpoint_url: str | None = self.values.get("endpoint_url")
        self.profile: str | None = self.values.get("profile")

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from commonmode_aws import client as aws
        from commonmode_aws.build import Options, build
        from commonmode_aws.collect import collect, get_account_id
        from commonmode_aws.grants import dedupe

        policy = CallPolicy.from_settings(self.settings, attempts=aws.MAX_ATTEMPTS)
        c = self.collection(progress, aws.AwsErrors(), policy)
        session = aws.session_for(self.profile, self.region, where=self.settings.where or c.name)
        base = aws.Clients(session, self.endpoint_url, self.region, policy=policy, calls=c.calls,
                           route53_rate=int(self.values["route53_requests_per_second"]))
        c.say("identifying the account")
        try:
            home = get_account_id(base.with_attempts(2))  # fewer attempts for the first call, counted with the rest
        except Exception as exc:  # noqa: BLE001 — the connector fails, with one line that says why
            return c.failed(aws.describe_first_failure(exc, self.endpoint_url or f"AWS STS in {self.region}"))
        accounts = collect(c, base, home, regions=self.regions, assume_role=self.values.get("assume_role"),
                           accounts=self.values.get("accounts"), max_workers=int(self.values["max_workers"]))
        c.say("evaluating policies")
        built = build(accounts, Options.from_values(c.name, self.values))
        built.grants = dedupe(built.grants)
        return c.finish(built, {"accounts": len(accounts), "route53_requests_per_second": base.route53_rate,
                                **c.call_stats(), **dict(sorted(base.pace.items()))})
