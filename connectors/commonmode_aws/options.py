"""The `[[aws]]` config keys this connector takes: each default written here once, read by the
Connector class and the build alike."""

from __future__ import annotations

from commonmode.connector import Option

#: `[[aws]]` keys; each default is written here once (the build reads them from here too).
OPTIONS: dict[str, Option] = {
    "profile": Option(type="string", help="AWS profile name (default: the standard credential chain)",
                      names_a_secret=True),
    "region": Option(type="string", help="region for regional APIs and STS", default="us-east-1"),
    "regions": Option(type="strings", help="regions to read Secrets Manager and ACM in [default: region]"),
    "endpoint_url": Option(type="string", help="endpoint override (private endpoints, emulators)", url=True),
    "assume_role": Option(type="string", help="role name to assume in each member account"),
    "accounts": Option(type="strings", help="account ids to scan through assume_role "
                                            "[default: every account of the organization]"),
    "max_workers": Option(type="integer", help="accounts scanned in parallel", default=4, minimum=1, maximum=64),
    "route53_requests_per_second": Option(type="integer", help="Route 53 requests per account in any one second, "
                                          "all operations together (the quota is 5, shared with your automation)",
                                          default=5, minimum=1, maximum=50),
    "owner_tags": Option(type="strings", help="tag keys that name an owner, first match wins",
                         default=["owner", "Owner", "team", "Team", "owner-team"]),
    "credential_tag": Option(type="string", help="secret tag naming the identity whose credential it holds",
                             default="commonmode:credential-of"),
    "discover_weighted": Option(type="boolean", help="also treat weighted record pairs as services",
                                default=False),
}
