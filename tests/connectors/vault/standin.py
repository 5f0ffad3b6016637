"""A STAND-IN for the parts of Vault's API that OpenBao does not ship: the aws, azure and gcp auth methods
and secret engines (they are plugins OpenBao's catalog lacks). It serves only the documented read endpoints
the connector uses, with the documented response shapes (Vault API docs: auth/aws "Read role", auth/azure
"Read role", auth/gcp "Read role", secret/aws "Read role", secret/gcp "Read roleset", secret/azure "Read
role"), from a fixed estate, through the shared stand-in (commonmode_sandbox.standin). Everything OpenBao
does have is tested against OpenBao itself.
"""

from __future__ import annotations

from typing import Any

from commonmode_sandbox.standin import StandIn as SharedStandIn

ACCOUNT = "123456789012"
ESTATE: dict[str, Any] = {
    "sys/health": {"cluster_id": "standin-cluster", "cluster_name": "standin", "initialized": True, "sealed": False},
    "sys/auth": {"data": {
        "token/": {"type": "token", "accessor": "auth_token_1"},
        "aws/": {"type": "aws", "accessor": "auth_aws_1"},
        "azure/": {"type": "azure", "accessor": "auth_azure_1"},
        "gcp/": {"type": "gcp", "accessor": "auth_gcp_1"},
    }},
    "sys/mounts": {"data": {
        "aws/": {"type": "aws", "options": None},
        "gcp/": {"type": "gcp", "options": None},
        "azure/": {"type": "azure", "options": None},
    }},
    "LIST sys/policies/acl": {"data": {"keys": ["ci-dns", "default"]}},
    "sys/policies/acl/ci-dns": {"data": {
        "name": "ci-dns", "policy": 'path "aws/creds/dns-writer" { capabilities = ["read"] }'}},
    "sys/policies/acl/default": {"data": {
        "name": "default", "policy": 'path "auth/token/lookup-self" { capabilities = ["read"] }'}},
    "LIST auth/aws/role": {"data": {"keys": ["dns-failover"]}},
    "auth/aws/role/dns-failover": {"data": {
        "auth_type": "iam", "bound_iam_principal_arn": [f"arn:aws:iam::{ACCOUNT}:role/ci-runner"],
        "token_policies": ["ci-dns"], "token_no_default_policy": False}},
    "LIST auth/azure/role": {"data": {"keys": ["dr-app"]}},
    "auth/azure/role/dr-app": {"data": {
        "bound_service_principal_ids": ["11111111-2222-3333-4444-555555555555"], "token_policies": ["ci-dns"]}},
    "LIST auth/gcp/role": {"data": {"keys": ["dns-sa"]}},
    "auth/gcp/role/dns-sa": {"data": {
        "type": "iam", "bound_service_accounts": ["dns-sync@dr-project.iam.gserviceaccount.com"],
        "token_policies": ["default"]}},
    "LIST aws/roles": {"data": {"keys": ["dns-writer"]}},
    "aws/roles/dns-writer": {"data": {
        "credential_type": "assumed_role", "role_arns": [f"arn:aws:iam::{ACCOUNT}:role/r53-writer"],
        "policy_arns": [], "policy_document": ""}},
    "LIST gcp/rolesets": {"data": {"keys": ["dns-admin"]}},
    "gcp/roleset/dns-admin": {"data": {
        "secret_type": "access_token", "service_account_email": "vault-dns-admin@dr-project.iam.gserviceaccount.com",
        "bindings": {}}},
    "LIST azure/roles": {"data": {"keys": ["dns-contrib"]}},
    "azure/roles/dns-contrib": {"data": {"application_object_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                                         "azure_roles": []}},
}


#: The POSTs the connector may send: lookups that only read (everything else is refused as a write).
LOOKUPS = ("sys/capabilities-self", "auth/token/lookup-accessor", "secret-id-accessor/lookup")


def StandIn() -> SharedStandIn:  # capitalised on purpose: reads as the class it makes
    """The Vault stand-in on 127.0.0.1: ESTATE through the shared stand-in, LIST as Vault spells it."""
    return SharedStandIn(routes=ESTATE, lookups=LOOKUPS, list_param="list", prefix="v1/")
