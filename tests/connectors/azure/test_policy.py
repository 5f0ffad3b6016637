"""The Azure RBAC evaluator (connectors/commonmode_azure/policy.py), rule by rule, each with a positive and a
negative case, over documents in the ARM shape the REST API returns. Pure: no server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from commonmode.kit import PolicyError, Tri
from commonmode_azure.policy import (
    EVERYONE,
    DenyAssignment,
    RoleAssignment,
    RoleDefinition,
    Scopes,
    access_policy_allows,
    action_matches,
    canonical,
    evaluate,
    index_roles,
    role_allows,
    role_key,
    same_scope,
    uses_rbac,
)

TENANT = "72f988bf-0000-4000-8000-000000000001"
SUB = "11111111-1111-4111-8111-111111111111"
OTHER_SUB = "22222222-2222-4222-8222-222222222222"
SP = "aaaaaaaa-0000-4000-8000-00000000000a"  # the identity under test (a service principal's object id)
OTHER = "bbbbbbbb-0000-4000-8000-00000000000b"
GROUP = "cccccccc-0000-4000-8000-00000000000c"
OUTER_GROUP = "dddddddd-0000-4000-8000-00000000000d"
SCOPES_SUB = f"/subscriptions/{SUB}"
RG = f"/subscriptions/{SUB}/resourceGroups/dns"
ZONE = f"{RG}/providers/Microsoft.Network/dnszones/example.com"
RECORD = f"{ZONE}/A/www"
MG_TEAM = "/providers/Microsoft.Management/managementGroups/platform"
MG_ROOT = f"/providers/Microsoft.Management/managementGroups/{TENANT}"
SCOPES = Scopes.build(subscriptions={SUB: "platform", OTHER_SUB: TENANT}, management_groups={"platform": TENANT})
A_WRITE = "Microsoft.Network/dnszones/A/write"
GET_SECRET = "Microsoft.KeyVault/vaults/secrets/getSecret/action"


def role_doc(name: str, *blocks: dict[str, Any], guid: str | None = None,
             assignable: tuple[str, ...] = ("/",)) -> dict[str, Any]:
    """A role definition as the REST API returns it."""
    guid = guid or str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    return {"id": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}", "name": guid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": name, "type": "CustomRole", "description": "",
                           "assignableScopes": list(assignable),
                           "permissions": [{"actions": [], "notActions": [], "dataActions": [], "notDataActions": [],
                                            **b} for b in blocks]}}


def role(name: str, *blocks: dict[str, Any], **kw: Any) -> RoleDefinition:
    return RoleDefinition.from_arm(role_doc(name, *blocks, **kw))


def assignment(r: RoleDefinition, scope: str, principal: str = SP, *, name: str = "a1",
               principal_type: str = "ServicePrincipal", condition: str | None = None) -> RoleAssignment:
    """A role assignment as the REST API returns it (the role definition id in its subscription-prefixed form)."""
    props: dict[str, Any] = {"scope": scope, "roleDefinitionId": r.id, "principalId": principal,
                             "principalType": principal_type}
    if condition:
        props |= {"condition": condition, "conditionVersion": "2.0"}
    return RoleAssignment.from_arm({"id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
                                    "name": name, "type": "Microsoft.Authorization/roleAssignments",
                                    "properties": props})


def deny(scope: str, *, actions: tuple[str, ...] = (), data_actions: tuple[str, ...] = (),
         not_actions: tuple[str, ...] = (), principals: tuple[tuple[str, str], ...] = ((EVERYONE, "SystemDefined"),),
         exclude: tuple[str, ...] = (), child: bool = False, name: str = "protect-dns",
         condition: str | None = None) -> DenyAssignment:
    """A deny assignment as the REST API returns it."""
    props: dict[str, Any] = {
        "denyAssignmentName": name, "scope": scope, "doNotApplyToChildScopes": child, "isSystemProtected": True,
        "permissions": [{"actions": list(actions), "notActions": list(not_actions), "dataActions": list(data_actions),
                         "notDataActions": []}],
        "principals": [{"id": i, "type": t} for i, t in principals],
        "excludePrincipals": [{"id": i, "type": "ServicePrincipal"} for i in exclude]}
    if condition:
        props["condition"] = condition
    return DenyAssignment.from_arm({"id": f"{scope}/providers/Microsoft.Authorization/denyAssignments/{name}",
                                    "name": name, "type": "Microsoft.Authorization/denyAssignments",
                                    "properties": props})


DNS_WRITER = role("Zone writer", {"actions": ["Microsoft.Network/dnsZones/*"]})


def decide(assignments: list[RoleAssignment], roles: list[RoleDefinition], action: str = A_WRITE,
           scope: str = RECORD, *, principals: tuple[str, ...] = (SP,), data: bool = False,
           denies: tuple[DenyAssignment, ...] = ()) -> Any:
    return evaluate(principals, action, scope, data=data, assignments=assignments, roles=index_roles(roles),
                    denies=denies, scopes=SCOPES)


# --- wildcards -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern,action,expected", [
    ("*", "Microsoft.Network/dnszones/A/write", True),
    # `*` runs across `/`, in the middle and at the end
    ("Microsoft.Network/*", "Microsoft.Network/dnszones/A/write", True),
    ("Microsoft.Network/*", "Microsoft.Cdn/profiles/originGroups/write", False),
    ("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", True),
    ("Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/delete", False),
    # case-insensitive, both sides
    ("microsoft.network/DNSZONES/a/WRITE", "Microsoft.Network/dnszones/A/write", True),
    ("Microsoft.Network/dnsZones/*", "MICROSOFT.NETWORK/DNSZONES/CNAME/DELETE", True),
    # */read is every read, never a write or an action ending in read-something
    ("*/read", "Microsoft.Network/dnszones/read", True),
    ("*/read", "Microsoft.Network/dnszones/A/write", False),
    ("*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", False),
    # interior /*/ also matches zero segments (Managed Identity Operator), one, or several
    ("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
     "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", True),
    ("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
     "Microsoft.ManagedIdentity/userAssignedIdentities/x/y/assign/action", True),
    ("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
     "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write", False),
    ("Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action",
     "Microsoft.ManagedIdentity/userAssignedIdentitiesassign/action", False),
    # no wildcard: the whole string, and '.' is a dot
    ("Microsoft.Network/dnszones/A/write", "Microsoft.Network/dnszones/A/writeX", False),
    ("Microsoft.Network/dnszones/A/write", "Microsoft.Network/dnszones/A", False),
    ("Microsoft.Network/dnszones/A/write", "MicrosoftXNetwork/dnszones/A/write", False),
])
def test_action_matching(pattern: str, action: str, expected: bool) -> None:
    assert action_matches(pattern, action) is expected


# --- a role's permission blocks ------------------------------------------------------------------------------

def test_not_actions_subtract_within_their_block_only() -> None:
    minus = role("Minus", {"actions": ["*"], "notActions": ["Microsoft.Network/dnszones/*"]})
    assert role_allows(minus, A_WRITE, data=False) is Tri.NO
    assert role_allows(minus, "Microsoft.Network/trafficManagerProfiles/write", data=False) is Tri.YES
    # a second block of the same role grants what the first one's notActions took away
    both = role("Both", {"actions": ["*"], "notActions": ["Microsoft.Network/dnszones/*"]},
                {"actions": [A_WRITE]})
    assert role_allows(both, A_WRITE, data=False) is Tri.YES


def test_not_actions_are_not_a_deny_another_assignment_still_grants() -> None:
    minus = role("Minus", {"actions": ["*"], "notActions": ["Microsoft.Network/dnszones/*"]})
    alone = decide([assignment(minus, SCOPES_SUB)], [minus])
    assert alone.result is Tri.NO
    both = decide([assignment(minus, SCOPES_SUB, name="a1"), assignment(DNS_WRITER, RG, name="a2")],
                  [minus, DNS_WRITER])
    assert both.result is Tri.YES and both.via == (f"role assignment a2: Zone writer at {RG}",)


def test_control_and_data_planes_are_separate() -> None:
    owner_like = role("Everything", {"actions": ["*"]})
    assert role_allows(owner_like, A_WRITE, data=False) is Tri.YES
    assert role_allows(owner_like, GET_SECRET, data=True) is Tri.NO
    reader = role("Secret reader", {"dataActions": ["Microsoft.KeyVault/vaults/secrets/*"]})
    assert role_allows(reader, GET_SECRET, data=True) is Tri.YES
    assert role_allows(reader, GET_SECRET, data=False) is Tri.NO
    all_data = role("All data", {"dataActions": ["*"]})
    assert role_allows(all_data, A_WRITE, data=False) is Tri.NO
    # data: dataActions minus notDataActions
    minus = role("Data minus", {"dataActions": ["*"], "notDataActions": ["Microsoft.KeyVault/vaults/secrets/*"]})
    assert role_allows(minus, GET_SECRET, data=True) is Tri.NO
    assert role_allows(minus, "Microsoft.KeyVault/vaults/keys/decrypt/action", data=True) is Tri.YES


def test_a_condition_on_a_permission_block_is_maybe() -> None:
    cond = role("Conditional", {"actions": [A_WRITE], "condition": "@Request[x] StringEquals 'y'",
                                "conditionVersion": "2.0"})
    assert role_allows(cond, A_WRITE, data=False) is Tri.MAYBE
    assert role_allows(cond, "Microsoft.Network/dnszones/CNAME/write", data=False) is Tri.NO
    got = decide([assignment(cond, RG)], [cond])
    assert got.result is Tri.MAYBE and got.conditional
    assert "only under a condition" in got.via[-1]


# --- scopes --------------------------------------------------------------------------------------------------

def test_ancestors_run_from_the_resource_up_to_the_root() -> None:
    assert SCOPES.ancestors(RECORD) == tuple(canonical(s) for s in (
        RECORD, ZONE, RG, SCOPES_SUB, MG_TEAM, MG_ROOT, "/"))
    # a subscription whose management group is unknown sits under the root directly
    assert Scopes().ancestors(RG) == (canonical(RG), canonical(SCOPES_SUB), "/")
    assert SCOPES.ancestors("/") == ("/",)


def test_scopes_compare_case_insensitively_with_one_canonical_form() -> None:
    upper = RECORD.upper().replace("RESOURCEGROUPS", "resourcegroups")
    assert canonical(upper) == canonical(RECORD) == canonical(RECORD + "/")
    assert same_scope(upper, RECORD) and not same_scope(ZONE, RECORD)
    assert SCOPES.contains(RG.upper(), RECORD) and SCOPES.contains(MG_ROOT, RECORD.lower())
    assert not SCOPES.contains(RECORD, RG)
    assert not SCOPES.contains(f"/subscriptions/{OTHER_SUB}", RECORD)
    # parents given as ARM returns them, in any casing
    assert Scopes({SCOPES_SUB.upper(): MG_TEAM.upper()}).ancestors(RG)[2] == canonical(MG_TEAM)


def test_extension_and_child_resources_have_their_parents() -> None:
    ext = f"{ZONE}/providers/Microsoft.Authorization/locks/nodelete"
    assert SCOPES.parent(ext) == canonical(ZONE)
    endpoint = f"{RG}/providers/Microsoft.Network/trafficManagerProfiles/app/azureEndpoints/primary"
    assert SCOPES.parent(endpoint) == canonical(f"{RG}/providers/Microsoft.Network/trafficManagerProfiles/app")
    assert SCOPES.parent(f"/subscriptions/{SUB}/providers/Microsoft.Security/pricings/x") == canonical(SCOPES_SUB)
    assert SCOPES.parent("/providers/Microsoft.Capacity/reservationOrders/r") == "/"


@pytest.mark.parametrize("bad", ["", "   ", f"{RG}/providers/Microsoft.Network/dnszones",
                                 f"{RG}/providers/Microsoft.Network", f"{RG}/somethingelse/x"])
def test_malformed_scopes_are_policy_errors(bad: str) -> None:
    with pytest.raises(PolicyError):
        Scopes().ancestors(bad)


def test_a_cycle_in_the_management_group_tree_is_a_policy_error() -> None:
    looped = Scopes.build(subscriptions={SUB: "a"}, management_groups={"a": "b", "b": "a"})
    with pytest.raises(PolicyError, match="cycle"):
        looped.ancestors(RG)


# --- inheritance ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("at", [RECORD, ZONE, RG, SCOPES_SUB, MG_TEAM, MG_ROOT, "/"],
                         ids=["record-set", "zone", "resource-group", "subscription", "management-group",
                              "root-management-group", "root"])
def test_an_assignment_at_any_enclosing_scope_applies(at: str) -> None:
    got = decide([assignment(DNS_WRITER, at)], [DNS_WRITER])
    assert got.result is Tri.YES and got.via == (f"role assignment a1: Zone writer at {at}",)


@pytest.mark.parametrize("at", [
    f"{ZONE}/A/api",  # a sibling record set
    f"{RECORD}/providers/Microsoft.Authorization/locks/x",  # below the target
    f"/subscriptions/{SUB}/resourceGroups/other",  # a sibling resource group
    f"/subscriptions/{OTHER_SUB}",  # another subscription (same tenant root, other branch)
    "/providers/Microsoft.Management/managementGroups/elsewhere",  # a management group not above it
], ids=["sibling-record", "below", "sibling-rg", "other-subscription", "other-management-group"])
def test_an_assignment_elsewhere_does_not_apply(at: str) -> None:
    got = decide([assignment(DNS_WRITER, at)], [DNS_WRITER])
    assert got.result is Tri.NO and got.via == (f"no role assignment allows {A_WRITE} at {RECORD}",)


def test_assignable_scopes_do_not_limit_an_existing_assignment() -> None:
    elsewhere = role("Zone writer elsewhere", {"actions": ["Microsoft.Network/dnszones/*"]},
                     assignable=(f"/subscriptions/{OTHER_SUB}",))
    assert decide([assignment(elsewhere, RG)], [elsewhere]).result is Tri.YES
    # … and the permissions still decide
    assert decide([assignment(elsewhere, RG)], [elsewhere], "Microsoft.Cdn/profiles/write").result is Tri.NO


def test_the_via_names_the_assignment_the_role_and_the_scope_as_arm_wrote_it() -> None:
    dns = role("DNS Zone Contributor", {"actions": ["Microsoft.Network/dnsZones/*"]})
    got = decide([assignment(dns, RG, name="9f3c")], [dns])
    assert got.via == (f"role assignment 9f3c: DNS Zone Contributor at /subscriptions/{SUB}/resourceGroups/dns",)


# --- principals and groups -----------------------------------------------------------------------------------

def test_an_assignment_to_a_group_applies_to_its_members() -> None:
    to_group = [assignment(DNS_WRITER, RG, GROUP, principal_type="Group")]
    member = decide(to_group, [DNS_WRITER], principals=(SP, GROUP))
    assert member.result is Tri.YES and member.via[0].endswith(f"to group {GROUP}")
    assert decide(to_group, [DNS_WRITER], principals=(SP,)).result is Tri.NO


def test_nested_group_membership_counts_when_the_outer_group_is_among_the_principals() -> None:
    # RBAC honours transitive membership (the token carries it): SP ∈ GROUP ∈ OUTER_GROUP, assigned to OUTER_GROUP
    to_outer = [assignment(DNS_WRITER, RG, OUTER_GROUP, principal_type="Group")]
    assert decide(to_outer, [DNS_WRITER], principals=(SP, GROUP, OUTER_GROUP)).result is Tri.YES
    assert decide(to_outer, [DNS_WRITER], principals=(SP, GROUP)).result is Tri.NO


def test_another_principals_assignment_does_not_apply_and_ids_compare_case_insensitively() -> None:
    assert decide([assignment(DNS_WRITER, RG, OTHER)], [DNS_WRITER]).result is Tri.NO
    assert decide([assignment(DNS_WRITER, RG, SP.upper())], [DNS_WRITER]).result is Tri.YES


# --- conditions ----------------------------------------------------------------------------------------------

def test_a_condition_on_the_assignment_makes_the_grant_conditional() -> None:
    cond = "@Resource[Microsoft.Network/dnszones:name] StringEquals 'example.com'"
    got = decide([assignment(DNS_WRITER, RG, condition=cond)], [DNS_WRITER])
    assert got.result is Tri.MAYBE and got.conditional
    assert got.via[0] == f"role assignment a1: Zone writer at {RG}" and cond in got.via[1]
    # an unconditional assignment next to it wins
    both = decide([assignment(DNS_WRITER, RG, condition=cond, name="a1"), assignment(DNS_WRITER, ZONE, name="a2")],
                  [DNS_WRITER])
    assert both.result is Tri.YES and both.via == (f"role assignment a2: Zone writer at {ZONE}",)


# --- deny assignments ----------------------------------------------------------------------------------------

GRANT = [assignment(DNS_WRITER, SCOPES_SUB)]


def test_a_deny_at_an_enclosing_scope_blocks_what_a_role_grants() -> None:
    got = decide(GRANT, [DNS_WRITER], denies=(deny(RG, actions=("Microsoft.Network/dnszones/*/write",)),))
    assert got.result is Tri.NO
    assert got.via == (f"deny assignment protect-dns at {RG}", f"role assignment a1: Zone writer at {SCOPES_SUB}")


@pytest.mark.parametrize("d", [
    deny(f"/subscriptions/{SUB}/resourceGroups/other", actions=("*",)),  # not above the target
    deny(RG, actions=("Microsoft.Network/dnszones/read",)),  # another action
    deny(RG, actions=("Microsoft.Network/*",), not_actions=("Microsoft.Network/dnszones/*",)),  # subtracted
    deny(RG, actions=("*",), principals=((OTHER, "ServicePrincipal"),)),  # another principal
    deny(RG, data_actions=("*",)),  # the data plane only
], ids=["elsewhere", "other-action", "not-actions", "other-principal", "data-only"])
def test_a_deny_that_does_not_cover_the_request_leaves_it_allowed(d: DenyAssignment) -> None:
    assert decide(GRANT, [DNS_WRITER], denies=(d,)).result is Tri.YES


def test_everyone_deny_blocks_all_but_the_excluded_principals() -> None:
    everyone = deny(RG, actions=("*",), exclude=(OTHER,))
    assert decide(GRANT, [DNS_WRITER], denies=(everyone,)).result is Tri.NO
    excluded = deny(RG, actions=("*",), exclude=(SP,))
    assert decide(GRANT, [DNS_WRITER], denies=(excluded,)).result is Tri.YES


def test_a_deny_to_a_group_applies_to_members_and_excluding_a_group_excludes_its_members() -> None:
    to_group = deny(RG, actions=("*",), principals=((GROUP, "Group"),))
    assert decide(GRANT, [DNS_WRITER], principals=(SP, GROUP), denies=(to_group,)).result is Tri.NO
    assert decide(GRANT, [DNS_WRITER], principals=(SP,), denies=(to_group,)).result is Tri.YES
    group_excluded = deny(RG, actions=("*",), exclude=(GROUP,))
    assert decide(GRANT, [DNS_WRITER], principals=(SP, GROUP), denies=(group_excluded,)).result is Tri.YES
    assert decide(GRANT, [DNS_WRITER], principals=(SP,), denies=(group_excluded,)).result is Tri.NO


def test_do_not_apply_to_child_scopes_keeps_a_deny_at_its_own_scope() -> None:
    own = deny(ZONE, actions=("*",), child=True)
    assert decide(GRANT, [DNS_WRITER], scope=ZONE, denies=(own,)).result is Tri.NO
    assert decide(GRANT, [DNS_WRITER], scope=RECORD, denies=(own,)).result is Tri.YES
    inherited = deny(ZONE, actions=("*",), child=False)
    assert decide(GRANT, [DNS_WRITER], scope=RECORD, denies=(inherited,)).result is Tri.NO


def test_a_deny_on_data_actions_blocks_the_data_plane_only() -> None:
    reader = role("Secret reader", {"dataActions": [GET_SECRET], "actions": ["Microsoft.KeyVault/vaults/*"]})
    vault = f"{RG}/providers/Microsoft.KeyVault/vaults/kv1"
    d = deny(vault, data_actions=("Microsoft.KeyVault/vaults/secrets/*",))
    got = evaluate((SP,), GET_SECRET, vault, data=True, assignments=[assignment(reader, vault)],
                   roles=index_roles([reader]), denies=[d], scopes=SCOPES)
    assert got.result is Tri.NO
    got = evaluate((SP,), "Microsoft.KeyVault/vaults/write", vault, data=False, assignments=[assignment(reader, vault)],
                   roles=index_roles([reader]), denies=[d], scopes=SCOPES)
    assert got.result is Tri.YES


def test_a_deny_under_a_condition_makes_the_grant_conditional() -> None:
    conditional = deny(RG, actions=("*",), condition="@Resource[x] StringEquals 'y'")
    got = decide(GRANT, [DNS_WRITER], denies=(conditional,))
    assert got.result is Tri.MAYBE and "deny assignment protect-dns" in got.via[-1]
    assert decide([], [DNS_WRITER], denies=(conditional,)).result is Tri.NO


# --- missing role definitions --------------------------------------------------------------------------------

def test_a_missing_role_definition_is_a_policy_error_naming_it() -> None:
    ghost = role("Ghost", {"actions": ["*"]}, guid="99999999-9999-4999-8999-999999999999")
    with pytest.raises(PolicyError, match="99999999-9999-4999-8999-999999999999"):
        decide([assignment(ghost, RG)], [])
    # an assignment that does not apply to the request is not looked up
    assert decide([assignment(ghost, RG, OTHER)], []).result is Tri.NO


def test_a_role_is_found_by_its_guid_whatever_scope_prefixes_its_id() -> None:
    guid = "befefa01-2a29-4197-83a8-272ff33ce314"
    builtin = RoleDefinition.from_cli({"roleName": "DNS Zone Contributor", "name": guid, "roleType": "BuiltInRole",
                                       "assignableScopes": ["/"],
                                       "permissions": [{"actions": ["Microsoft.Network/dnsZones/*"]}]})
    assert builtin.id == f"/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    a = RoleAssignment.from_arm({"id": f"{RG}/providers/Microsoft.Authorization/roleAssignments/x", "properties": {
        "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid.upper()}",
        "principalId": SP, "principalType": "ServicePrincipal"}})
    assert role_key(a.role_definition_id) == role_key(builtin.id)
    assert decide([a], [builtin]).result is Tri.YES
    assert a.scope == RG  # taken from the id when the properties do not say


# --- parsing -------------------------------------------------------------------------------------------------

def test_the_arm_and_cli_shapes_of_a_role_definition_parse_alike() -> None:
    arm = role_doc("Zone writer", {"actions": ["Microsoft.Network/dnsZones/*"], "notActions": ["x/y/delete"]},
                   guid="12345678-1234-4234-8234-123456789012")
    cli = {"id": arm["id"], "name": arm["name"], "roleName": "Zone writer", "roleType": "CustomRole",
           "assignableScopes": ["/"], "permissions": arm["properties"]["permissions"]}
    assert RoleDefinition.from_arm(arm) == RoleDefinition.from_cli(cli)


@pytest.mark.parametrize("broken", [
    lambda d: d["properties"].update(permissions="*"),
    lambda d: d["properties"]["permissions"][0].update(actions="*"),
    lambda d: d["properties"]["permissions"][0].update(notActions=[1]),
    lambda d: d.pop("properties"),
    lambda d: d.pop("id"),
])
def test_a_malformed_role_definition_is_a_policy_error(broken: Any) -> None:
    doc = role_doc("Broken", {"actions": ["*"]})
    broken(doc)
    with pytest.raises(PolicyError):
        RoleDefinition.from_arm(doc)


def test_a_malformed_assignment_or_deny_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="roleDefinitionId"):
        RoleAssignment.from_arm({"id": f"{RG}/providers/Microsoft.Authorization/roleAssignments/x",
                                 "properties": {"principalId": SP}})
    with pytest.raises(PolicyError, match="doNotApplyToChildScopes"):
        DenyAssignment.from_arm({"id": "d", "name": "d", "properties": {"scope": RG, "permissions": [],
                                                           "doNotApplyToChildScopes": "yes"}})
    with pytest.raises(PolicyError, match="principals"):
        DenyAssignment.from_arm({"id": "d", "name": "d",
                                 "properties": {"scope": RG, "permissions": [], "principals": "all"}})


# --- Key Vault access policies -------------------------------------------------------------------------------

def vault(*entries: dict[str, Any], rbac: bool | None = False) -> dict[str, Any]:
    """A vault as the REST API returns it (access-policy model unless rbac)."""
    props: dict[str, Any] = {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"},
                             "accessPolicies": list(entries)}
    if rbac is not None:
        props["enableRbacAuthorization"] = rbac
    return {"id": f"{RG}/providers/Microsoft.KeyVault/vaults/kv1", "name": "kv1",
            "type": "Microsoft.KeyVault/vaults", "properties": props}


def policy_entry(object_id: str = SP, *, secrets: tuple[str, ...] = (), certificates: tuple[str, ...] = (),
                 tenant: str = TENANT, application: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"tenantId": tenant, "objectId": object_id,
                         "permissions": {"secrets": list(secrets), "certificates": list(certificates), "keys": []}}
    if application:
        e["applicationId"] = application
    return e


def test_an_access_policy_gives_its_permissions_to_its_object() -> None:
    v = vault(policy_entry(secrets=("Get", "List")))
    got = access_policy_allows(v, (SP,), "secrets", "get")
    assert got.result is Tri.YES and got.via == (f"access policy for {SP}: secrets get",)
    assert access_policy_allows(v, (SP,), "secrets", "set").result is Tri.NO
    assert access_policy_allows(v, (OTHER,), "secrets", "get").result is Tri.NO
    # kinds are separate: certificates get is not secrets get
    assert access_policy_allows(vault(policy_entry(certificates=("get",))), (SP,), "secrets", "get").result is Tri.NO
    # the properties alone work as well as the vault
    assert access_policy_allows(v["properties"], (SP,), "secrets", "get").result is Tri.YES


def test_all_is_every_permission_of_its_kind() -> None:
    v = vault(policy_entry(secrets=("all",)))
    assert access_policy_allows(v, (SP,), "secrets", "set").result is Tri.YES
    assert access_policy_allows(v, (SP,), "certificates", "create").result is Tri.NO


def test_an_access_policy_for_a_group_applies_to_its_members() -> None:
    v = vault(policy_entry(GROUP, secrets=("get",)))
    assert access_policy_allows(v, (SP, GROUP), "secrets", "get").result is Tri.YES
    assert access_policy_allows(v, (SP,), "secrets", "get").result is Tri.NO


def test_an_entry_of_another_tenant_gives_nothing() -> None:
    v = vault(policy_entry(secrets=("get",), tenant=TENANT.replace("7", "8")))
    assert access_policy_allows(v, (SP,), "secrets", "get").result is Tri.NO


def test_a_compound_identity_entry_is_conditional() -> None:
    app = "eeeeeeee-0000-4000-8000-00000000000e"
    v = vault(policy_entry(secrets=("get",), application=app))
    got = access_policy_allows(v, (SP,), "secrets", "get")
    assert got.result is Tri.MAYBE and app in got.via[-1]
    # a plain entry for the same object beside it wins
    both = vault(policy_entry(secrets=("get",), application=app), policy_entry(secrets=("get",)))
    assert access_policy_allows(both, (SP,), "secrets", "get").result is Tri.YES


@pytest.mark.parametrize("flag,expected", [(True, True), (False, False), (None, False)])
def test_the_vault_model_comes_from_enable_rbac_authorization(flag: bool | None, expected: bool) -> None:
    assert uses_rbac(vault(rbac=flag)) is expected


def test_an_rbac_vault_ignores_its_access_policies() -> None:
    v = vault(policy_entry(secrets=("get",)), rbac=True)
    got = access_policy_allows(v, (SP,), "secrets", "get")
    assert got.result is Tri.NO and "ignored" in got.via[0]
    assert access_policy_allows(vault(policy_entry(secrets=("get",)), rbac=None), (SP,), "secrets",
                                "get").result is Tri.YES
