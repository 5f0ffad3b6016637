"""The AWS connector: IAM identities with exact policy evaluation, Route 53 failover discovery, Secrets
Manager and ACM metadata. Read-only (see collect.READ_ONLY_OPERATIONS); never reads a secret value.

Config (`[[aws]]`): see connectors/commonmode_aws/README.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from commonmode.connector import ConnectorResult, ConnectorSettings, Option, ProgressFn
from commonmode.model import RunStatus

log = logging.getLogger(__name__)

__all__ = ["AwsConnector"]


@dataclass(frozen=True)
class _Org:
    """The organization as the scan sees it: where to read policies, and which policy types are enabled."""

    clients: Any
    management: str
    org_id: str | None
    enabled: frozenset[str]


class AwsConnector:
    """`[[aws]]`: one AWS account, or an organization's accounts through an audit role."""

    provider = "aws"
    options = {
        "profile": Option(type="string", help="AWS profile name (default: the standard credential chain)",
                          names_a_secret=True),
        "region": Option(type="string", help="region for regional APIs and STS", default="us-east-1"),
        "regions": Option(type="strings", help="regions to read Secrets Manager and ACM in [default: region]"),
        "endpoint_url": Option(type="string", help="endpoint override (private endpoints, emulators)", url=True),
        "assume_role": Option(type="string", help="role name to assume in each member account"),
        "accounts": Option(type="strings", help="account ids to scan through assume_role "
                                                "[default: every account of the organization]"),
        "max_workers": Option(type="integer", help="accounts scanned in parallel", default=4, minimum=1, maximum=64),
        "owner_tags": Option(type="strings", help="tag keys that name an owner, first match wins",
                             default=["owner", "Owner", "team", "Team", "owner-team"]),
        "credential_tag": Option(type="string", help="secret tag naming the identity whose credential it holds",
                                 default="commonmode:credential-of"),
        "discover_weighted": Option(type="boolean", help="also treat weighted record pairs as services",
                                    default=False),
    }

    def __init__(self, settings: ConnectorSettings) -> None:
        self.settings = settings
        o = settings.options
        self.region: str = o.get("region") or "us-east-1"
        self.regions: list[str] = list(o.get("regions") or [self.region])
        self.endpoint_url: str | None = o.get("endpoint_url")
        self.profile: str | None = o.get("profile")

    def collect(self, progress: ProgressFn) -> ConnectorResult:
        from commonmode_aws import collect as api
        from commonmode_aws.build import Options, build

        name = self.settings.name
        gaps: list[str] = []
        session = api.session_for(self.profile, self.region, where=self.settings.where or name)
        base = self._clients(api, session)
        progress("identifying the account", 0, None)
        try:
            # fewer attempts for the first call, counted with the rest: a fresh client cache, the same counter
            home = api.get_account_id(dataclasses.replace(base, attempts=2, _cache={}))
        except Exception as exc:  # noqa: BLE001 — the connector fails, with one line that says why
            where = self.endpoint_url or f"AWS STS in {self.region}"
            return ConnectorResult(connector=name, provider=self.provider, status=RunStatus.FAILED,
                                   gaps=(f"aws {name}: {api.describe_first_failure(exc, where)}",))
        org_accounts, org = self._organization(base, home, gaps)
        targets: list[tuple[str, Any]] = [(home, base)]
        role = self.settings.options.get("assume_role")
        if role:
            wanted = list(self.settings.options.get("accounts") or org_accounts)
            for acct in wanted:
                if acct == home:
                    continue
                try:
                    sess = api.assumed_session(base, f"arn:aws:iam::{acct}:role/{role}", self.region)
                    targets.append((acct, self._clients(api, sess)))
                except Exception as exc:  # noqa: BLE001 — recorded as a gap; the other accounts go on
                    gaps.append(f"account {acct}: cannot assume {role}: {api.describe_error(exc)}")
        done = Counter[str]()

        def one(item: tuple[str, Any]) -> Any:
            acct, clients = item
            data = self._account(api, acct, clients, gaps, lambda what: progress(f"{acct}: {what}", done[acct], None))
            if org is not None:
                data.org_id = org.org_id
                if acct != org.management:  # neither SCPs nor RCPs apply to the management account
                    self._org_policies(api, org, acct, data, gaps)
            return data

        workers = max(1, int(self.settings.options.get("max_workers") or 4))
        with ThreadPoolExecutor(max_workers=min(workers, len(targets))) as pool:
            accounts = list(pool.map(one, targets))
        progress("evaluating policies", 0, None)
        built = build(accounts, Options(
            connector=name,
            owner_tags=tuple(self.settings.options.get("owner_tags") or Options.owner_tags),
            credential_tag=self.settings.options.get("credential_tag") or Options.credential_tag,
            discover_weighted=bool(self.settings.options.get("discover_weighted")),
        ))
        gaps.extend(built.gaps)
        calls = Counter[str]()
        for _, clients in targets:
            calls.update(clients.calls)
        built.grants = _dedupe(built.grants)
        inventory = built.inventory()
        status = RunStatus.PARTIAL if gaps else RunStatus.OK
        stats = {"accounts": len(accounts), "api_calls": sum(calls.values()),
                 **{f"calls.{k}": v for k, v in sorted(calls.items())}}
        return ConnectorResult(connector=name, provider=self.provider, status=status, inventory=inventory,
                               gaps=tuple(gaps), stats=stats)

    def _clients(self, api: Any, session: Any) -> Any:
        """The client factory with this instance's endpoint, region, timeouts and retries."""
        s = self.settings
        return api.Clients(session, self.endpoint_url, self.region, read_timeout=s.timeout,
                           connect_timeout=s.connect_timeout)

    def _organization(self, base: Any, home: str, gaps: list[str]) -> tuple[list[str], _Org | None]:
        """Member accounts, and where and which SCPs/RCPs to read, when these credentials reach the organization."""
        from commonmode_aws import collect as api

        try:
            org = api.get_organization(base)
        except Exception as exc:  # noqa: BLE001
            if api.error_code(exc) not in ("AWSOrganizationsNotInUseException", *api.DENIED_CODES):
                gaps.append(f"organizations:DescribeOrganization: {api.describe_error(exc)}")
            log.info("organization not readable (%s): SCPs and RCPs are not evaluated", api.describe_error(exc))
            return [], None
        try:
            accounts = [a["Id"] for a in api.get_accounts(base) if a.get("Status", "ACTIVE") == "ACTIVE"]
        except Exception as exc:  # noqa: BLE001
            if api.error_code(exc) not in api.DENIED_CODES:
                gaps.append(f"organizations:ListAccounts: {api.describe_error(exc)}")
            return [], None
        try:
            enabled = api.get_enabled_policy_types(base)
        except Exception as exc:  # noqa: BLE001
            gaps.append(f"organizations:ListRoots: {api.describe_error(exc)}; SCPs and RCPs evaluated as absent")
            enabled = set()
        return accounts, _Org(clients=base, management=org["MasterAccountId"], org_id=org.get("Id"),
                              enabled=frozenset(enabled))

    @staticmethod
    def _org_policies(api: Any, org: _Org, acct: str, data: Any, gaps: list[str]) -> None:
        """The SCP and RCP levels of a member account, for the policy types enabled in the root; the
        account's place in the organization is walked once for both."""
        kinds = [(kind, attr) for kind, attr in (("SERVICE_CONTROL_POLICY", "scp_levels"),
                                                 ("RESOURCE_CONTROL_POLICY", "rcp_levels")) if kind in org.enabled]
        if not kinds:
            return

        def unreadable(attr: str, exc: Exception) -> str:
            return f"account {acct}: {attr[:3].upper()}s unreadable ({api.describe_error(exc)}); evaluated without them"

        try:
            path = api.get_org_path(org.clients, acct)
        except Exception as exc:  # noqa: BLE001 — recorded as a gap for each policy type
            gaps.extend(unreadable(attr, exc) for _, attr in kinds)
            return
        for kind, attr in kinds:
            try:
                setattr(data, attr, api.get_policy_levels(org.clients, path, kind))
            except Exception as exc:  # noqa: BLE001
                gaps.append(unreadable(attr, exc))

    def _account(self, api: Any, acct: str, clients: Any, gaps: list[str], say: Callable[[str], None]) -> Any:
        from commonmode_aws.build import AccountData

        data = AccountData(account=acct)

        def attempt(what: str, fn: Callable[[], Any], default: Any) -> Any:
            say(what)
            if self.settings.past_deadline():
                gaps.append(f"account {acct}: {what}: not read, the connector's deadline of "
                            f"{self.settings.deadline} s was reached")
                return default
            try:
                return fn()
            except api.ReadOnlyViolation:
                raise
            except Exception as exc:  # noqa: BLE001 — a refused call is a gap, never an empty list
                gaps.append(f"account {acct}: {what}: {api.describe_error(exc)}")
                return default

        data.gaad = attempt("iam:GetAccountAuthorizationDetails", lambda: api.get_authorization_details(clients), {})
        local = {p["Arn"] for p in data.gaad.get("Policies", [])}
        wanted = sorted({m["PolicyArn"] for kind in ("UserDetailList", "RoleDetailList", "GroupDetailList")
                         for e in data.gaad.get(kind, []) for m in e.get("AttachedManagedPolicies", [])}
                        | {e["PermissionsBoundary"]["PermissionsBoundaryArn"] for kind in ("UserDetailList", "RoleDetailList")
                           for e in data.gaad.get(kind, []) if e.get("PermissionsBoundary")})
        for arn in wanted:
            if arn not in local:
                doc = attempt(f"iam:GetPolicyVersion {arn}", lambda a=arn: api.get_managed_policy_document(clients, a), None)
                if doc is not None:
                    data.managed_documents[arn] = doc
        for u in data.gaad.get("UserDetailList", []):
            data.access_keys[u["UserName"]] = attempt(f"iam:ListAccessKeys {u['UserName']}",
                                                      lambda n=u["UserName"]: api.get_access_keys(clients, n), [])
        data.zones = attempt("route53:ListHostedZones", lambda: api.get_hosted_zones(clients), [])
        zone_ids = [z["Id"].rsplit("/", 1)[-1] for z in data.zones]
        if zone_ids:
            data.zone_tags = attempt("route53:ListTagsForResources hostedzone",
                                     lambda: api.get_route53_tags(clients, "hostedzone", zone_ids), {})
        for zid in zone_ids:
            data.records[zid] = attempt(f"route53:ListResourceRecordSets {zid}",
                                        lambda z=zid: api.get_record_sets(clients, z), [])
        data.health_checks = attempt("route53:ListHealthChecks", lambda: api.get_health_checks(clients), [])
        if data.health_checks:
            data.health_check_tags = attempt(
                "route53:ListTagsForResources healthcheck",
                lambda: api.get_route53_tags(clients, "healthcheck", [h["Id"] for h in data.health_checks]), {})
        for region in self.regions:
            data.secrets[region] = attempt(f"secretsmanager:ListSecrets {region}",
                                           lambda r=region: api.get_secrets(clients, r), [])
            data.parameters[region] = attempt(f"ssm:DescribeParameters {region}",
                                              lambda r=region: api.get_secure_parameters(clients, r), [])
            data.authorities[region] = attempt(f"acm-pca:ListCertificateAuthorities {region}",
                                               lambda r=region: api.get_certificate_authorities(clients, r), [])
            data.certificates[region] = attempt(f"acm:ListCertificates {region}",
                                                lambda r=region: api.get_certificates(clients, r), [])
        return data


def _dedupe(grants: list[Any]) -> list[Any]:
    """One grant per (identity, capability, resource): an unconditional one beats a conditional one."""
    best: dict[tuple[str, str, str], Any] = {}
    for g in grants:
        key = (g.identity_id, g.capability.value, g.resource_id)
        if key not in best or (best[key].conditional and not g.conditional):
            best[key] = g
    return list(best.values())
