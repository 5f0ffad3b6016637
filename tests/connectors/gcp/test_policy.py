"""The GCP IAM evaluator (connectors/commonmode_gcp/policy.py), rule by rule, each with a positive and a negative
case, over documents in the REST shapes getIamPolicy, roles.get and the IAM v2 deny API return. Pure: no server."""

from __future__ import annotations

from typing import Any

import pytest

from commonmode.kit import PolicyError, Tri
from commonmode_gcp.policy import (
    DenyPolicy,
    Hierarchy,
    Identity,
    Policy,
    Role,
    ancestors,
    attachment_point,
    deleted_members,
    evaluate,
    member_matches,
    v2_permission,
    v2_permission_matches,
)

ORG, FOLDER, PROJECT, OTHER_PROJECT = "organizations/111", "folders/222", "projects/dns-prod", "projects/other"
HIERARCHY = Hierarchy({PROJECT: FOLDER, FOLDER: ORG, OTHER_PROJECT: ORG})
ZONE = "//dns.googleapis.com/projects/dns-prod/managedZones/example-com"
RECORD = f"{ZONE}/rrsets/www.example.com./A"
SECRET = "//secretmanager.googleapis.com/projects/dns-prod/secrets/api-key"
SA_EMAIL = "deployer@dns-prod.iam.gserviceaccount.com"
SA = Identity(member=f"serviceAccount:{SA_EMAIL}")
CHANGE = "dns.changes.create"
POOL = "iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github"
ROLES = {r.name: r for r in (
    Role.parse({"name": "roles/dns.admin", "includedPermissions": [CHANGE, "dns.resourceRecordSets.update"]}),
    Role.parse({"name": "roles/dns.reader", "includedPermissions": ["dns.resourceRecordSets.list"]}),
    Role.parse({"name": "projects/dns-prod/roles/recordEditor", "includedPermissions": [CHANGE]}),
)}


def policy(*bindings: dict[str, Any]) -> Policy:
    return Policy.parse({"version": 3, "etag": "BwX=", "bindings": list(bindings)})


def binding(role: str = "roles/dns.admin", *members: str, condition: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"role": role, "members": list(members) or [f"serviceAccount:{SA_EMAIL}"]}
    if condition:
        b["condition"] = {"title": "business hours", "expression": condition}
    return b


def deny_policy(at: str, *rules: dict[str, Any]) -> DenyPolicy:
    quoted = f"cloudresourcemanager.googleapis.com/{at}".replace("/", "%2F")
    return DenyPolicy.parse({"name": f"policies/{quoted}/denypolicies/protect-dns",
                             "rules": [{"denyRule": r} for r in rules]})


def rule(principals: tuple[str, ...] = ("principalSet://goog/public:all",),
         permissions: tuple[str, ...] = ("dns.googleapis.com/changes.create",), **kw: Any) -> dict[str, Any]:
    return {"deniedPrincipals": list(principals), "deniedPermissions": list(permissions), **kw}


def decide(ident: Identity = SA, permission: str = CHANGE, resource: str = RECORD, *,
           policies: dict[str, Policy], denies: tuple[DenyPolicy, ...] = ()) -> Tri:
    d = evaluate(ident, permission, resource, policies_by_resource=policies, roles=ROLES, deny_policies=denies,
                 hierarchy=HIERARCHY)
    assert d.granted == bool(d.via) or d.result is Tri.NO
    return d.result


def test_ancestors_walk_record_set_zone_project_folder_organization() -> None:
    assert ancestors(RECORD, HIERARCHY) == (RECORD, ZONE, PROJECT, FOLDER, ORG)
    assert ancestors(SECRET, HIERARCHY) == (SECRET, PROJECT, FOLDER, ORG)
    pool = "//privateca.googleapis.com/projects/dns-prod/locations/europe-west1/caPools/issuing"
    assert ancestors(pool, HIERARCHY)[1] == PROJECT
    # Compute's global/ and regions/R/, and locations/L/, are places, not resources with a policy
    for name in ("//compute.googleapis.com/projects/dns-prod/global/healthChecks/web",
                 "//compute.googleapis.com/projects/dns-prod/regions/europe-west1/forwardingRules/web"):
        assert ancestors(name, HIERARCHY) == (name, PROJECT, FOLDER, ORG)
    cmap = "//certificatemanager.googleapis.com/projects/dns-prod/locations/global/certificateMaps/main"
    assert ancestors(f"{cmap}/certificateMapEntries/www", HIERARCHY)[1:3] == (cmap, PROJECT)
    assert ancestors(OTHER_PROJECT, HIERARCHY) == (OTHER_PROJECT, ORG)
    assert ancestors(PROJECT) == (PROJECT,)  # no hierarchy known: the project is the top


def test_hierarchy_cycle_and_bad_names_are_errors() -> None:
    with pytest.raises(PolicyError, match="cycle"):
        Hierarchy({FOLDER: "folders/333", "folders/333": FOLDER}).ancestors(FOLDER)
    with pytest.raises(PolicyError, match="not a GCP resource name"):
        ancestors("dns-prod/zones/x")


def test_binding_on_the_project_is_inherited_by_the_record_set_and_names_it() -> None:
    d = evaluate(SA, CHANGE, RECORD, policies_by_resource={PROJECT: policy(binding())}, roles=ROLES,
                 deny_policies=(), hierarchy=HIERARCHY)
    assert d.result is Tri.YES
    assert d.via == (f"roles/dns.admin on {PROJECT} (binding 0: serviceAccount:{SA_EMAIL})",)


def test_binding_on_the_folder_and_on_the_zone_are_inherited() -> None:
    assert decide(policies={FOLDER: policy(binding())}) is Tri.YES
    assert decide(policies={ZONE: policy(binding())}) is Tri.YES
    # a binding on another project, or on a record set below the one asked about, gives nothing
    assert decide(policies={OTHER_PROJECT: policy(binding())}) is Tri.NO
    assert decide(resource=ZONE, policies={RECORD: policy(binding())}) is Tri.NO


def test_role_without_the_permission_and_other_member_give_nothing() -> None:
    assert decide(policies={PROJECT: policy(binding("roles/dns.reader"))}) is Tri.NO
    assert decide(policies={PROJECT: policy(binding("roles/dns.admin", "serviceAccount:x@p.iam.gserviceaccount.com"))}
                  ) is Tri.NO


def test_custom_role_resolved_by_its_name() -> None:
    assert decide(policies={PROJECT: policy(binding("projects/dns-prod/roles/recordEditor"))}) is Tri.YES
    assert ROLES["projects/dns-prod/roles/recordEditor"].custom and not ROLES["roles/dns.admin"].custom


def test_unknown_role_is_maybe_and_says_so() -> None:
    d = evaluate(SA, CHANGE, RECORD, policies_by_resource={PROJECT: policy(binding("roles/unreadable"))},
                 roles=ROLES, deny_policies=(), hierarchy=HIERARCHY)
    assert d.result is Tri.MAYBE and "not known" in d.via[0]


def test_condition_makes_the_grant_conditional_an_unconditional_one_wins() -> None:
    cond = 'request.time < timestamp("2030-01-01T00:00:00Z")'
    d = evaluate(SA, CHANGE, RECORD, policies_by_resource={PROJECT: policy(binding(condition=cond))}, roles=ROLES,
                 deny_policies=(), hierarchy=HIERARCHY)
    assert d.result is Tri.MAYBE and d.conditional and "business hours" in d.via[0] and cond in d.via[0]
    both = {PROJECT: policy(binding(condition=cond)), FOLDER: policy(binding())}
    assert decide(policies=both) is Tri.YES


def test_group_domain_all_users_and_deleted_members() -> None:
    alice = Identity(member="user:alice@example.com", groups=frozenset({"dns-team@example.com"}))
    assert decide(alice, policies={PROJECT: policy(binding("roles/dns.admin", "group:DNS-team@example.com"))}
                  ) is Tri.YES
    assert decide(SA, policies={PROJECT: policy(binding("roles/dns.admin", "group:dns-team@example.com"))}
                  ) is Tri.NO
    assert decide(alice, policies={PROJECT: policy(binding("roles/dns.admin", "domain:example.com"))}) is Tri.YES
    assert decide(SA, policies={PROJECT: policy(binding("roles/dns.admin", "domain:example.com"))}) is Tri.NO
    for everyone in ("allUsers", "allAuthenticatedUsers"):
        assert decide(SA, policies={PROJECT: policy(binding("roles/dns.admin", everyone))}) is Tri.YES
    gone = f"deleted:serviceAccount:{SA_EMAIL}?uid=123456789"
    p = policy(binding("roles/dns.admin", gone))
    assert decide(SA, policies={PROJECT: p}) is Tri.NO
    assert deleted_members(p) == [("roles/dns.admin", gone)]
    assert deleted_members(policy(binding())) == []


def test_workload_identity_principal_and_principal_sets() -> None:
    wif = Identity(member=f"principal://{POOL}/subject/repo:acme/dns:ref:refs/heads/main",
                   attributes={"repository": "acme/dns"})
    assert wif.pool == f"//{POOL}"
    assert member_matches(wif.member, wif) is Tri.YES
    assert member_matches(f"principal://{POOL}/subject/repo:acme/web:ref:refs/heads/main", wif) is Tri.NO
    assert member_matches(f"principalSet://{POOL}/*", wif) is Tri.YES
    assert member_matches(f"principalSet://{POOL}/attribute.repository/acme/dns", wif) is Tri.YES
    assert member_matches(f"principalSet://{POOL}/attribute.repository/acme/web", wif) is Tri.NO
    assert member_matches(f"principalSet://{POOL.replace('github', 'gitlab')}/*", wif) is Tri.NO
    assert member_matches(f"principalSet://{POOL}/*", SA) is Tri.NO
    # a principal set asking for itself (what its own bindings give it) matches itself, and no other set
    repo_set = Identity(member=f"principalSet://{POOL}/attribute.repository/acme/dns")
    assert member_matches(repo_set.member, repo_set) is Tri.YES
    assert member_matches(f"principalSet://{POOL}/attribute.repository/acme/web", repo_set) is Tri.NO
    # a set the scanner cannot resolve is MAYBE for the kind it can contain, NO for the others
    every_sa = "principalSet://cloudresourcemanager.googleapis.com/projects/123/type/ServiceAccount"
    assert member_matches(every_sa, SA) is Tri.MAYBE
    assert member_matches(every_sa, Identity(member="user:bob@example.com")) is Tri.NO


def test_v2_permission_form_and_wildcards() -> None:
    assert v2_permission("resourcemanager.projects.setIamPolicy") == \
        "cloudresourcemanager.googleapis.com/projects.setIamPolicy"  # Resource Manager's v2 service name
    assert v2_permission("dns.changes.create") == "dns.googleapis.com/changes.create"
    assert v2_permission("iam.serviceAccounts.getAccessToken") == "iam.googleapis.com/serviceAccounts.getAccessToken"
    assert v2_permission_matches("dns.googleapis.com/changes.create", CHANGE)
    assert v2_permission_matches("dns.googleapis.com/*.*", CHANGE)
    assert v2_permission_matches("dns.googleapis.com/changes.*", CHANGE)
    assert not v2_permission_matches("dns.googleapis.com/managedZones.*", CHANGE)
    assert not v2_permission_matches("dns.googleapis.com/changes.get", CHANGE)
    assert not v2_permission_matches("compute.googleapis.com/*.*", CHANGE)
    assert not v2_permission_matches("dns.changes.create", CHANGE)  # the v1 form is not a v2 name
    with pytest.raises(PolicyError):
        v2_permission("dns")


def test_deny_policy_name_gives_its_attachment_point() -> None:
    assert attachment_point("policies/cloudresourcemanager.googleapis.com%2Ffolders%2F222/denypolicies/x") == FOLDER
    with pytest.raises(PolicyError):
        attachment_point("policies/x/allowpolicies/y")


def test_deny_on_an_ancestor_beats_any_allow_and_names_the_rule() -> None:
    allow = {PROJECT: policy(binding())}
    d = evaluate(SA, CHANGE, RECORD, policies_by_resource=allow, roles=ROLES,
                 deny_policies=(deny_policy(FOLDER, rule()),), hierarchy=HIERARCHY)
    assert d.result is Tri.NO and "denied by" in d.via[0] and FOLDER in d.via[0]
    # on another branch of the hierarchy, or for another permission, the deny does not apply
    assert decide(policies=allow, denies=(deny_policy(OTHER_PROJECT, rule()),)) is Tri.YES
    assert decide(policies=allow, denies=(deny_policy(FOLDER, rule(permissions=("dns.googleapis.com/changes.get",))),)
                  ) is Tri.YES


def test_deny_principals_in_the_v2_form() -> None:
    allow = {PROJECT: policy(binding("roles/dns.admin", f"serviceAccount:{SA_EMAIL}", "group:ops@example.com"))}
    sa_v2 = f"principal://iam.googleapis.com/projects/-/serviceAccounts/{SA_EMAIL}"
    assert decide(policies=allow, denies=(deny_policy(PROJECT, rule((sa_v2,))),)) is Tri.NO
    bob = Identity(member="user:bob@example.com", groups=frozenset({"ops@example.com"}))
    assert decide(bob, policies=allow, denies=(deny_policy(PROJECT, rule(("principalSet://goog/group/ops@example.com",))),)
                  ) is Tri.NO
    assert decide(bob, policies=allow, denies=(deny_policy(PROJECT, rule((sa_v2,))),)) is Tri.YES
    assert decide(bob, policies=allow, denies=(deny_policy(PROJECT, rule(("principal://goog/subject/bob@example.com",))),)
                  ) is Tri.NO


def test_exception_principals_and_exception_permissions() -> None:
    allow = {PROJECT: policy(binding())}
    sa_v2 = f"principal://iam.googleapis.com/projects/-/serviceAccounts/{SA_EMAIL}"
    excepted = rule(exceptionPrincipals=[sa_v2])
    assert decide(policies=allow, denies=(deny_policy(ORG, excepted),)) is Tri.YES
    assert decide(policies=allow, denies=(deny_policy(ORG, rule(("principalSet://goog/public:all",),
                                                                ("dns.googleapis.com/*.*",),
                                                                exceptionPermissions=["dns.googleapis.com/changes.create"])),)
                  ) is Tri.YES
    assert decide(policies=allow, denies=(deny_policy(ORG, rule(("principalSet://goog/public:all",),
                                                                ("dns.googleapis.com/*.*",))),)) is Tri.NO


def test_denial_condition_makes_an_allow_conditional() -> None:
    cond = {"title": "prod only", "expression": "resource.matchTag('123/env', 'prod')"}
    d = evaluate(SA, CHANGE, RECORD, policies_by_resource={PROJECT: policy(binding())}, roles=ROLES,
                 deny_policies=(deny_policy(PROJECT, rule(denialCondition=cond)),), hierarchy=HIERARCHY)
    assert d.result is Tri.MAYBE
    assert d.via[0].startswith("roles/dns.admin on") and "prod only" in d.via[1]


def test_deny_alone_grants_nothing_and_no_binding_is_no() -> None:
    assert decide(policies={}) is Tri.NO
    assert decide(policies={}, denies=(deny_policy(PROJECT, rule()),)) is Tri.NO


def test_malformed_documents_are_errors_naming_the_field() -> None:
    with pytest.raises(PolicyError, match=r"bindings\[0\]\.members"):
        Policy.parse({"bindings": [{"role": "roles/x", "members": "user:a@b"}]})
    with pytest.raises(PolicyError, match="version"):
        Policy.parse({"version": 7})
    with pytest.raises(PolicyError, match="includedPermissions"):
        Role.parse({"name": "roles/x", "includedPermissions": "dns.changes.create"})
    assert Policy.parse({}) == Policy()


def test_withcond_role_of_a_version_1_policy_is_the_base_role_conditionally() -> None:
    p = Policy.parse({"version": 1, "bindings": [{"role": "roles/dns.admin_withcond_2b17cc25d2cd9e2c54d8",
                                                  "members": [SA.member]}]})
    d = evaluate(SA, CHANGE, RECORD, policies_by_resource={PROJECT: p}, roles=ROLES, deny_policies=(),
                 hierarchy=HIERARCHY)
    assert d.result is Tri.MAYBE and "does not show" in d.via[0]
    reader = Policy.parse({"version": 1, "bindings": [{"role": "roles/dns.reader_withcond_2b17cc25d2cd9e2c54d8",
                                                       "members": [SA.member]}]})
    assert decide(policies={PROJECT: reader}) is Tri.NO


def test_unreadable_group_membership_makes_a_group_binding_or_deny_maybe() -> None:
    unknown = Identity(member=SA.member, groups_known=False)
    by_group = {PROJECT: policy(binding("roles/dns.admin", "group:dns-team@example.com"))}
    d = evaluate(unknown, CHANGE, RECORD, policies_by_resource=by_group, roles=ROLES, deny_policies=(),
                 hierarchy=HIERARCHY)
    assert d.result is Tri.MAYBE and "is not known" in d.via[0]
    assert decide(SA, policies=by_group) is Tri.NO  # membership read, and it is not in the group
    group_deny = deny_policy(PROJECT, rule(("principalSet://goog/group/ops@example.com",)))
    assert decide(unknown, policies={PROJECT: policy(binding())}, denies=(group_deny,)) is Tri.MAYBE
    assert decide(SA, policies={PROJECT: policy(binding())}, denies=(group_deny,)) is Tri.YES
