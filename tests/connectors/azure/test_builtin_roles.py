"""Azure's built-in roles by their real definitions: all 928 of tests/data/azure/built-in-roles-raw.json.gz (the
`az role definition list` shape; see tests/data/azure/README.md), evaluated by policy.py and capabilities.toml
through grants_on. The last test recomputes shared/DOMAIN.md §1.2's "Built-in roles that grant it" table."""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path

import pytest
from tests.connectors.azure.test_policy import RG, SCOPES, SP, SUB, policy_entry, vault

from commonmode.kit import Tri
from commonmode.model import Capability
from commonmode_azure.capabilities import Access, Resource, grants_on, load_capabilities
from commonmode_azure.policy import RoleAssignment, RoleDefinition, index_roles, role_allows

DATA = Path(__file__).parents[2] / "data" / "azure" / "built-in-roles-raw.json.gz"
TABLE = load_capabilities()
ZONE = f"{RG}/providers/Microsoft.Network/dnszones/example.com"
PRIVATE_ZONE = f"{RG}/providers/Microsoft.Network/privateDnsZones/internal.example"
VAULT_ID = f"{RG}/providers/Microsoft.KeyVault/vaults/kv1"
PUBLIC = Resource(id=ZONE, kind="dns-zone", zone_type="public")
A_RECORDS = Resource(id=f"{ZONE}/A/www", kind="dns-record-set", zone_type="public", record_type="A")
PRIVATE = Resource(id=PRIVATE_ZONE, kind="dns-zone", zone_type="private")
TRAFFIC_MANAGER = Resource(id=f"{RG}/providers/Microsoft.Network/trafficManagerProfiles/app",
                           kind="traffic-manager-profile")
FRONT_DOOR = Resource(id=f"{RG}/providers/Microsoft.Cdn/profiles/fd", kind="frontdoor-profile")


def key_vault(model: str) -> Resource:
    v = vault(policy_entry(SP.replace("a", "f"), secrets=("get",)), rbac=model == "rbac")  # someone else's policy
    return Resource(id=VAULT_ID, kind="key-vault", vault=v)


RBAC_VAULT, POLICY_VAULT = key_vault("rbac"), key_vault("access-policy")


@cache
def builtins() -> dict[str, RoleDefinition]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        return {r.role_name: r for r in map(RoleDefinition.from_cli, json.load(f))}


def test_all_928_built_in_roles_parse_with_distinct_ids() -> None:
    roles = builtins()
    assert len(roles) == 928
    assert len(index_roles(roles.values())) == 928
    assert all(r.role_type == "BuiltInRole" and r.assignable_scopes == ("/",) for r in roles.values())


def holder(role_name: str, resource: Resource, at: str = RG) -> dict[Capability, Access]:
    """What SP can do to `resource` holding the built-in role at `at` (its id in the subscription-prefixed form an
    assignment carries)."""
    r = builtins()[role_name]
    a = RoleAssignment.from_arm({
        "id": f"{at}/providers/Microsoft.Authorization/roleAssignments/ra-1", "name": "ra-1",
        "properties": {"scope": at, "principalId": SP, "principalType": "ServicePrincipal",
                       "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
                                           f"{r.name}"}})
    got = grants_on(resource, (SP,), table=TABLE, assignments=[a], roles=index_roles(builtins().values()), denies=[],
                    scopes=SCOPES)
    return {x.capability: x for x in got}


def direct(role_name: str, resource: Resource) -> set[Capability]:
    return {c for c, a in holder(role_name, resource).items() if a.escalation is None and a.decision.result is Tri.YES}


@pytest.mark.parametrize("name", ["DNS Zone Contributor", "Network Contributor", "Contributor", "Owner"])
def test_these_roles_can_change_a_zones_a_records(name: str) -> None:
    assert Capability.DNS_WRITE in direct(name, A_RECORDS)
    assert Capability.DNS_WRITE in direct(name, PUBLIC)
    got = holder(name, A_RECORDS)[Capability.DNS_WRITE]
    assert got.decision.via[0] == f"role assignment ra-1: {name} at {RG}"


@pytest.mark.parametrize("name", ["Reader", "DNS Resolver Contributor", "Traffic Manager Contributor",
                                  "Private DNS Zone Contributor", "CDN Profile Contributor"])
def test_these_roles_cannot(name: str) -> None:
    assert holder(name, A_RECORDS) == {} and holder(name, PUBLIC) == {}


def test_traffic_manager_contributor_gets_failover_write_and_nothing_on_dns() -> None:
    assert direct("Traffic Manager Contributor", TRAFFIC_MANAGER) == {Capability.FAILOVER_WRITE}
    assert holder("Reader", TRAFFIC_MANAGER) == {}
    assert holder("Traffic Manager Contributor", PUBLIC) == {}


def test_key_vault_secrets_user_reads_secrets_in_rbac_mode_only() -> None:
    assert direct("Key Vault Secrets User", RBAC_VAULT) == {Capability.SECRET_READ}
    assert holder("Key Vault Secrets User", POLICY_VAULT) == {}


def test_key_vault_certificate_user_reads_the_secret_behind_a_certificate() -> None:
    # a certificate's private key is the same-named secret: "User" yet secret.read
    assert direct("Key Vault Certificate User", RBAC_VAULT) == {Capability.SECRET_READ}
    # Key Vault Reader reads metadata only
    assert holder("Key Vault Reader", RBAC_VAULT) == {}


@pytest.mark.parametrize("name", ["Owner", "Contributor"])
def test_owner_and_contributor_have_no_data_actions_but_escalate_on_access_policy_vaults(name: str) -> None:
    role = builtins()[name]
    assert all(not block.data_actions for block in role.permissions)
    assert role_allows(role, "Microsoft.KeyVault/vaults/secrets/getSecret/action", data=True) is Tri.NO
    on_rbac = holder(name, RBAC_VAULT)
    assert Capability.SECRET_READ not in direct(name, RBAC_VAULT)
    if name == "Contributor":
        assert Capability.SECRET_READ not in on_rbac  # and it cannot assign itself a role
    else:
        assert on_rbac[Capability.SECRET_READ].escalation == "role-assignment"  # Owner can assign itself one
    on_policies = holder(name, POLICY_VAULT)
    for cap in (Capability.SECRET_READ, Capability.CERT_ISSUE):
        assert on_policies[cap].escalation in ("vault-access-policy", "role-assignment")
        assert on_policies[cap].decision.result is Tri.YES
    if name == "Contributor":
        assert on_policies[Capability.SECRET_READ].escalation == "vault-access-policy"
        assert "Microsoft.KeyVault/vaults/" in on_policies[Capability.SECRET_READ].operation


def test_dns_zone_contributor_grants_no_private_zone_and_private_dns_zone_contributor_no_public_one() -> None:
    assert holder("DNS Zone Contributor", PRIVATE) == {}
    assert direct("Private DNS Zone Contributor", PRIVATE) == {Capability.DNS_WRITE, Capability.DNS_ADMIN}
    assert holder("Private DNS Zone Contributor", PUBLIC) == {}
    assert direct("DNS Zone Contributor", PUBLIC) == {Capability.DNS_WRITE, Capability.DNS_ADMIN}


def test_cdn_profile_contributor_writes_front_door_origins_and_network_contributor_does_not() -> None:
    assert direct("CDN Profile Contributor", FRONT_DOOR) == {Capability.FAILOVER_WRITE}
    assert holder("Network Contributor", FRONT_DOOR) == {}
    assert holder("CDN Profile Reader", FRONT_DOOR) == {}


def test_managed_identity_operator_can_attach_identities_through_its_interior_wildcard() -> None:
    identity = Resource(id=f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/deployer",
                        kind="user-assigned-identity")
    got = holder("Managed Identity Operator", identity)
    assert got[Capability.IDENTITY_ASSUME].escalation == "assign-identity"
    assert got[Capability.IDENTITY_ASSUME].decision.result is Tri.MAYBE  # it also needs compute to attach it to
    assert holder("Managed Identity Contributor", identity)[Capability.IDENTITY_ASSUME].escalation == \
        "federated-credential"
    assert holder("Reader", identity) == {}


# --- DOMAIN.md §1.2, "Built-in roles that grant it", recomputed over all 928 roles ---------------------------

def grantors(operation: str, *, data: bool = False) -> dict[str, Tri]:
    return {n: t for n, r in builtins().items() if (t := role_allows(r, operation, data=data)) is not Tri.NO}


NETWORK = {"Owner", "Contributor", "Network Contributor"}
ROWS: list[tuple[str, bool, set[str], str | None, int]] = [
    # operation, data action?, the roles the table names, a pattern the rest must match (None: no others), count
    ("Microsoft.Network/dnszones/A/write", False,
     NETWORK | {"DNS Zone Contributor", "Azure Red Hat OpenShift Cluster Ingress Operator"}, None, 5),
    ("Microsoft.Network/dnszones/NS/write", False, NETWORK | {"DNS Zone Contributor"}, None, 4),
    ("Microsoft.Network/dnszones/dnssecConfigs/default/write", False, NETWORK | {"DNS Zone Contributor"}, None, 4),
    # "several Azure Migrate/ARO roles"
    ("Microsoft.Network/privateDnsZones/A/write", False, NETWORK | {"Private DNS Zone Contributor"},
     r"Azure (Local )?Migrate .*|Azure Red Hat OpenShift .*", 9),
    ("Microsoft.Network/trafficManagerProfiles/write", False,
     NETWORK | {"Traffic Manager Contributor", "Azure Kubernetes Fleet Manager Hub Agent Role"}, None, 5),
    ("Microsoft.Network/trafficManagerProfiles/azureEndpoints/write", False,
     NETWORK | {"Traffic Manager Contributor", "Azure Kubernetes Fleet Manager Hub Agent Role"}, None, 5),
    ("Microsoft.Network/frontDoors/write", False, NETWORK, None, 3),
    ("Microsoft.Network/applicationGateways/write", False, NETWORK, None, 3),
    ("Microsoft.Cdn/profiles/originGroups/write", False, {"Owner", "Contributor", "CDN Profile Contributor"}, None, 3),
    ("Microsoft.Cdn/profiles/afdEndpoints/routes/write", False, {"Owner", "Contributor", "CDN Profile Contributor"},
     None, 3),
    # "Azure Migrate Owner/Expert roles"
    ("Microsoft.KeyVault/vaults/write", False,
     {"Owner", "Contributor", "Key Vault Contributor", "Azure AI Administrator"}, r"Azure (Local )?Migrate .*", 7),
    ("Microsoft.KeyVault/vaults/accessPolicies/write", False,
     {"Owner", "Contributor", "Key Vault Contributor", "Azure AI Administrator"}, r"Azure (Local )?Migrate .*", 7),
    ("Microsoft.KeyVault/vaults/secrets/getSecret/action", True,
     {"Key Vault Administrator", "Key Vault Secrets Officer", "Key Vault Secrets User", "Key Vault Certificate User"},
     None, 4),
    ("Microsoft.KeyVault/vaults/secrets/setSecret/action", True,
     {"Key Vault Administrator", "Key Vault Secrets Officer", "Operator Nexus Key Vault Writer Service Role (Preview)"},
     None, 3),
    ("Microsoft.KeyVault/vaults/certificates/create/action", True,
     {"Key Vault Administrator", "Key Vault Certificates Officer"}, None, 2),
    ("Microsoft.KeyVault/vaults/certificates/import/action", True,
     {"Key Vault Administrator", "Key Vault Certificates Officer"}, None, 2),
    # "plus 24 service-specific roles"
    ("Microsoft.Authorization/roleAssignments/write", False,
     {"Owner", "User Access Administrator", "Role Based Access Control Administrator",
      "Key Vault Data Access Administrator"}, r".+", 28),
    # DOMAIN.md names four; the dataset has a fifth, Azure Red Hat OpenShift Federated Credential (its actions list
    # federatedIdentityCredentials/write literally): the table there is one short.
    ("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write", False,
     {"Owner", "Contributor", "Managed Identity Contributor",
      "Managed Identity Federated Identity Credential Contributor", "Azure Red Hat OpenShift Federated Credential"},
     None, 5),
]


@pytest.mark.parametrize("operation,data,named,others,count", ROWS, ids=[r[0].split("/", 1)[1] for r in ROWS])
def test_the_domain_table_of_granting_roles(operation: str, data: bool, named: set[str], others: str | None,
                                           count: int) -> None:
    got = grantors(operation, data=data)
    assert named <= set(got), sorted(named - set(got))
    rest = set(got) - named
    if others is None:
        assert rest == set(), sorted(rest)
    else:
        assert all(re.fullmatch(others, n) for n in rest), sorted(rest)
    assert len(got) == count, sorted(got)


def test_conditional_grantors_are_conditional() -> None:
    got = grantors("Microsoft.Authorization/roleAssignments/write")
    # constrained by an ABAC condition to a list of Key Vault roles
    assert got["Key Vault Data Access Administrator"] is Tri.MAYBE
    assert got["Owner"] is got["User Access Administrator"] is got["Role Based Access Control Administrator"] is Tri.YES
    # and so are all 24 service-specific ones
    conditional = sorted(n for n, t in got.items() if t is Tri.MAYBE and n != "Key Vault Data Access Administrator")
    assert len(conditional) == 24, conditional
