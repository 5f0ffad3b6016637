"""The GCP organization issue 16's "Done when" is checked against: one primaryBackup failover record and every way
to change it that the issue lists, each on its own service account, plus the ones that must not count.

organization
├── folder platform (roles/dns.admin: folder-writer)
│   └── folder dns
│       └── project acme-dns-prod (labels owner=netops)
│           ├── zone example-com (labels owner=netops; roles/dns.admin on the zone: zone-writer, ci-deployer)
│           │   └── api.example.com. A, primaryBackup: us-east1 internal LB → backup geo us-west1
│           ├── service accounts: project-writer (roles/dns.admin on the project), impersonator (Token Creator on
│           │   project-writer), denied-writer (roles/dns.admin, deny policy on changes.create), cond-writer
│           │   (roles/dns.admin under a condition), reader (roles/dns.reader), lb-admin
│           │   (roles/compute.loadBalancerAdmin), group-writer and oncall-writer (in group dns-ops, the
│           │   second through the nested group dns-oncall; dns-ops holds roles/dns.admin on the zone),
│           │   zone-writer (no owner in its description, a key 400 days old), ci-deployer
│           │   (workloadIdentityUser to every identity of the pool `github`, whose provider has no
│           │   attribute condition)
│           ├── secret dns-api-token (labels owner=netops)
│           └── workload identity pool github → provider github-any (GitHub's issuer, no condition)
└── project acme-dev (Cloud DNS API disabled)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from commonmode_sandbox.gcp import GcpEstate

GITHUB = "https://token.actions.githubusercontent.com"
CONDITION = {"title": "business hours", "expression": 'request.time.getHours("Europe/Berlin") < 18'}
PROJECT = "acme-dns-prod"
DEV = "acme-dev"


@dataclass
class Names:
    estate: GcpEstate
    org: str
    platform: str
    dns_folder: str
    zone: str
    record: str
    sa: dict[str, str] = field(default_factory=dict)  # short name -> identity id (full resource name)
    email: dict[str, str] = field(default_factory=dict)
    old_key: str = ""
    pool: str = ""
    secret: str = ""
    lb_target: str = f"//compute.googleapis.com/projects/{PROJECT}/regions/us-east1/internalLoadBalancers/10.10.0.5:443"


def sa_id(email: str) -> str:
    return f"//iam.googleapis.com/projects/{PROJECT}/serviceAccounts/{email}"


def build(*, page_size: int = 2) -> Names:
    e = GcpEstate(seed=1616, page_size=page_size)
    org = e.organization["name"]
    platform = e.folder("platform")
    dns_folder = e.folder("dns", parent=platform["name"])
    e.project(PROJECT, parent=dns_folder["name"], labels={"owner": "netops"})
    e.project(DEV, disabled_services=["dns.googleapis.com"])
    n = Names(estate=e, org=org, platform=platform["name"], dns_folder=dns_folder["name"],
              zone=f"//dns.googleapis.com/projects/{PROJECT}/managedZones/example-com",
              record=f"//dns.googleapis.com/projects/{PROJECT}/managedZones/example-com/rrsets/api.example.com./A")
    owners = {"zone-writer": "writes example.com records"}  # no owner: the owner-gap case
    for short in ("project-writer", "folder-writer", "impersonator", "denied-writer", "cond-writer", "reader",
                  "lb-admin", "zone-writer", "ci-deployer", "group-writer", "oncall-writer"):
        sa = e.service_account(PROJECT, short, description=owners.get(short, f"{short} (owner: netops)"))
        n.email[short], n.sa[short] = sa["email"], sa_id(sa["email"])
    member = {k: f"serviceAccount:{v}" for k, v in n.email.items()}
    n.old_key = e.service_account_key(n.email["zone-writer"], age_days=400)["name"].rsplit("/", 1)[-1]
    e.service_account_key(n.email["zone-writer"], age_days=5)
    e.service_account_key(n.email["project-writer"], age_days=30, expires_in_days=60)

    e.bind(f"projects/{PROJECT}", "roles/dns.admin",
           [member["project-writer"], member["denied-writer"]])
    e.bind(f"projects/{PROJECT}", "roles/dns.admin", [member["cond-writer"]], condition=CONDITION)
    e.bind(f"projects/{PROJECT}", "roles/dns.reader", [member["reader"]])
    e.bind(f"projects/{PROJECT}", "roles/compute.loadBalancerAdmin", [member["lb-admin"]])
    e.bind(platform["name"], "roles/dns.admin", [member["folder-writer"]])
    # a group bound on the zone, with a nested group: their members' grants go through it (Cloud Identity)
    e.group("dns-oncall@example.com", [n.email["oncall-writer"]])
    e.group("dns-ops@example.com", [n.email["group-writer"], "dns-oncall@example.com"])
    e.bind(f"projects/{PROJECT}/managedZones/example-com", "roles/dns.admin", ["group:dns-ops@example.com"])
    e.bind(f"projects/{PROJECT}/managedZones/example-com", "roles/dns.admin",
           [member["zone-writer"], member["ci-deployer"]])
    e.bind(f"projects/{PROJECT}/serviceAccounts/{n.email['project-writer']}",
           "roles/iam.serviceAccountTokenCreator", [member["impersonator"]])
    e.deny_policy(f"projects/{PROJECT}", "no-record-changes", [{
        "deniedPrincipals": [f"principal://iam.googleapis.com/projects/-/serviceAccounts/{n.email['denied-writer']}"],
        "deniedPermissions": ["dns.googleapis.com/changes.create"]}])

    pool = e.workload_identity_pool(PROJECT, "github")
    e.workload_identity_provider(pool, "github-any", issuer=GITHUB,
                                 attribute_mapping={"google.subject": "assertion.sub",
                                                    "attribute.repository": "assertion.repository"})
    n.pool = pool["name"]
    e.bind(f"projects/{PROJECT}/serviceAccounts/{n.email['ci-deployer']}", "roles/iam.workloadIdentityUser",
           [f"principalSet://iam.googleapis.com/{pool['name']}/*"])

    e.managed_zone(PROJECT, "example-com", "example.com.", labels={"owner": "netops"})
    e.record_set(PROJECT, "example-com", "www.example.com.", "CNAME", rrdatas=["api.example.com."])
    e.record_set(PROJECT, "example-com", "api.example.com.", "A", routing_policy=e.primary_backup(
        [e.internal_load_balancer("10.10.0.5", project=PROJECT, region="us-east1",
                                  network=f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/prod")],
        {"us-west1": ["203.0.113.10"]}, trickle=0.0))
    secret = e.secret(PROJECT, "dns-api-token", labels={"owner": "netops"})
    n.secret = f"//secretmanager.googleapis.com/projects/{PROJECT}/secrets/dns-api-token"
    del secret
    e.certificate(PROJECT, "api-cert", ["api.example.com"], expires_in_days=20, labels={"owner": "netops"})
    return n
