"""Remediation steps are the connectors' data: picked by the subject entity's provider, filled from its fields."""

from __future__ import annotations

import dataclasses

import pytest
from tests.estate import CI_ROLE, DNS_BOT, NOW, VAULT_MOUNT, declared_services, reference_estate

from commonmode.connector import Registry
from commonmode.correlate import RULES, correlate, provider_steps
from commonmode.correlate.remediation import RemediationError, fill, parse_steps
from commonmode.correlate.rules import Rule, data_rules, remediation_lines
from commonmode.scan import builtin_remediation_steps


def steps_of(corr, rule: str, subject: str) -> list[str]:
    f = next(f for f in corr.findings if f.rule == rule and f.subjects == (subject,))
    lines = remediation_lines(f.remediation)
    assert lines[0] == RULES[rule].remediation
    return lines[1:]


@pytest.fixture(scope="module")
def builtin():
    return builtin_remediation_steps(Registry.discover())


def test_the_built_in_connectors_ship_their_steps_and_the_declared_one_none(builtin):
    assert set(builtin) == {"aws", "vault"}
    assert provider_steps("commonmode_declared") is None
    assert set(builtin["aws"].steps) == {"shared-identity", "shared-secret-store", "owner-gap"}
    assert set(builtin["vault"].steps) == {"shared-identity", "shared-secret-store", "shared-certificate-path",
                                           "owner-gap"}


def test_the_steps_findings_had_before_they_moved_into_the_connectors_data(builtin):
    """The texts of rules.py before issue 14 (the Vault role's kind from its auth mount, the HCL braces)."""
    corr = correlate(reference_estate(), declared_services=declared_services(), now=NOW, remediation=builtin)
    assert steps_of(corr, "shared-identity", CI_ROLE.id) == [
        "Create a separate approle role for the backup path, with a policy limited to the backup path's secrets "
        '(e.g. path "secret/data/dns/backup" { capabilities = ["read"] }).',
        f"Remove the backup path's secrets from the policies attached to {CI_ROLE.id}.",
        "Keep the backup role's login credential out of the primary path's stores."]
    assert steps_of(corr, "shared-identity", DNS_BOT.id) == [
        "Create a separate IAM role in the backup account (or a separate account altogether), allowed only "
        "route53:ChangeResourceRecordSets on the backup zone (use the "
        "route53:ChangeResourceRecordSetsNormalizedRecordNames condition key to pin the records).",
        f"Remove the backup zone and health checks from {DNS_BOT.id}'s policies, or deny them there.",
        "Give each role its own credential source (a separate CI OIDC trust, or a separate Vault)."]
    assert steps_of(corr, "owner-gap", DNS_BOT.id) == [
        f'Tag {DNS_BOT.id} with owner = "<team>", or delete it if nobody claims it.']
    assert steps_of(corr, "shared-secret-store", VAULT_MOUNT.id) == [
        f"Move the backup path's credentials out of {VAULT_MOUNT.id} into a mount of a separate Vault cluster (one "
        "that does not run in the primary's region or account).",
        "Give the backup automation a separate auth role that cannot read the primary's mount."]
    # rules no provider ships steps for: the rule's generic steps, whatever the provider
    zone = "arn:aws:route53:::hostedzone/ZAPI"
    assert steps_of(corr, "shared-dns-control-plane", zone)[0] == (
        f"Move the backup path's records out of {zone}, into a zone whose provider account (or DNS provider) the "
        "primary path does not use.")


def test_without_a_provider_s_data_a_finding_gets_the_rule_s_generic_steps(builtin):
    bare = correlate(reference_estate(), declared_services=declared_services(), now=NOW)
    assert steps_of(bare, "shared-identity", DNS_BOT.id) == [f"Remove {DNS_BOT.id}'s access to one of the two paths."]
    assert steps_of(bare, "shared-secret-store", VAULT_MOUNT.id) == [
        f"Move the backup path's credentials out of {VAULT_MOUNT.id}."]
    # the same entities, reported as another provider's (a declared file's "ns1"): generic although aws and
    # vault ship steps: the provider is the entity's own field, never what its id looks like
    inv = reference_estate()
    other = dataclasses.replace(inv, identities=tuple(dataclasses.replace(i, provider="ns1") for i in inv.identities),
                                stores=tuple(dataclasses.replace(s, provider="declared") for s in inv.stores))
    corr = correlate(other, declared_services=declared_services(), now=NOW, remediation=builtin)
    assert steps_of(corr, "shared-identity", DNS_BOT.id) == steps_of(bare, "shared-identity", DNS_BOT.id)
    assert steps_of(corr, "owner-gap", DNS_BOT.id) == [f"Record an accountable owner for {DNS_BOT.id}, or remove it."]
    assert steps_of(corr, "shared-secret-store", VAULT_MOUNT.id) == steps_of(bare, "shared-secret-store",
                                                                             VAULT_MOUNT.id)


def test_a_connector_s_data_changes_the_text(builtin):
    mine = parse_steps('''
[values.account]
field = "id"
pattern = "arn:aws:iam::([0-9]+):"
default = "?"

[steps]
shared-identity = ["Split {name} ({kind}, {provider}) out of account {account}: {subject}.", "Literal {{braces}}."]
''', "test/remediation.toml", data_rules())
    corr = correlate(reference_estate(), declared_services=declared_services(), now=NOW,
                     remediation={**builtin, "aws": mine})
    assert steps_of(corr, "shared-identity", DNS_BOT.id) == [
        f"Split dns-bot (iam-user, aws) out of account 111111111111: {DNS_BOT.id}.", "Literal {braces}."]
    # its rules only: the rest of aws falls back to the generic steps, and vault keeps its own
    assert steps_of(corr, "owner-gap", DNS_BOT.id) == [f"Record an accountable owner for {DNS_BOT.id}, or remove it."]
    assert "separate Vault cluster" in steps_of(corr, "shared-secret-store", VAULT_MOUNT.id)[0]


@pytest.mark.parametrize(("identity_id", "kind"), [
    ("vault://c/auth/approle/role/x", "approle"), ("vault://c/auth/ci-jwt/role/y", "ci-jwt"),
    ("vault://c/auth/token/accessors/abc", "token"), ("vault://c/identity/entity/id/e1", "auth")])
def test_vault_names_the_role_kind_from_the_auth_mount_in_the_id(builtin, identity_id, kind):
    entity = dataclasses.replace(CI_ROLE, id=identity_id)
    first = fill(builtin["vault"].steps["shared-identity"], (identity_id,), entity, builtin["vault"].values)[0]
    assert first.startswith(f"Create a separate {kind} role for the backup path")


@pytest.mark.parametrize(("text", "error"), [
    ("[steps]\nno-such-rule = ['x']", "steps.no-such-rule: expected a rule whose steps come from data"),
    ("[steps]\nshared-fault-domain = ['x']", "steps.shared-fault-domain: expected a rule whose steps come from data"),
    ("[steps]\nshared-identity = []", "steps.shared-identity: expected a non-empty list of strings"),
    ("[steps]\nshared-identity = ['{owner} x']", "steps.shared-identity[0]: unknown placeholders ['owner']"),
    ("[steps]\nshared-identity = ['{name.__class__}']", "is not a plain {name} placeholder"),
    ("[steps]\nshared-identity = ['{name!r}']", "is not a plain {name} placeholder"),
    ("[steps]\nshared-identity = ['{ capabilities }']", "is not a plain {name} placeholder"),
    ("[steps]\nshared-identity = ['''a\nb''']", "expected one line"),
    ("[rules]\nx = 1", "unknown tables ['rules']"),
    ("[values.v]\nfield = 'id'\npattern = '(('\ndefault = ''", "values.v.pattern: not a regular expression"),
    ("[values.v]\nfield = 'id'\npattern = 'no group'\ndefault = ''", "values.v.pattern: expected exactly one group"),
    ("[values.v]\nfield = 'tags'\npattern = '(x)'\ndefault = ''", "values.v: expected field one of"),
    ("[values.v]\nfield = 'id'\npattern = '(x)'", "values.v: expected the keys field, pattern and default"),
    ("[values.name]\nfield = 'id'\npattern = '(x)'\ndefault = ''", "values.name: expected a name"),
    ("steps = [", "not valid TOML"),
])
def test_a_malformed_remediation_file_is_refused_naming_the_key(text, error):
    with pytest.raises(RemediationError) as info:
        parse_steps(text, "pkg/remediation.toml", data_rules())
    assert str(info.value).startswith("pkg/remediation.toml: ") and error in str(info.value)


def test_a_rule_s_generic_steps_name_only_the_subjects():
    with pytest.raises(ValueError, match="may name only"):
        Rule("r", "s", "fix", "always high", lambda ctx: (), steps=("Fix {name}.",))
    for rule in RULES.values():  # every rule whose steps come from data has generic ones for the rest
        assert (rule.name in data_rules()) == (rule.steps is not None)

