

import pytest

from commonmode.model import Capability, Finding, Grant, Resource, Service, Severity, has_owner


def test_grant_without_via_is_refused():
    with pytest.raises(ValueError, match="via must explain"):
        Grant(identity_id="a", capability=Capability.DNS_WRITE, resource_id="z", via=(), connector="c")
    with pytest.raises(ValueError, match="via must explain"):
        Grant(identity_id="a", capability=Capability.DNS_WRITE, resource_id="z", via=("",), connector="c")


def test_grant_capability_must_be_in_the_vocabulary():
    g = Grant(identity_id="a", capability="dns.write", resource_id="z", via=("p",), connector="c")
    assert g.capability is Capability.DNS_WRITE
    with pytest.raises(ValueError):
        Grant(identity_id="a", capability="dns.delete", resource_id="z", via=("p",), connector="c")


def test_finding_without_evidence_is_refused():
    with pytest.raises(ValueError, match="evidence"):
        Finding(rule="shared-identity", severity=Severity.HIGH, services=("s",), subjects=("x",), evidence=(),
                remediation="fix", fingerprint="f")


def test_service_needs_both_paths():
    with pytest.raises(ValueError, match="primary and backup"):
        Service(name="s", primary=("a",), backup=(), source="declared")


def test_placeholder_owners_are_gaps():
    for nobody in (None, "", "  ", "TBD", "unknown", "N/A", "none"):
        assert not has_owner(nobody), nobody
    for somebody in ("team-sre", "alice@example.com"):
        assert has_owner(somebody)


def test_dns_names_are_normalised():
    r = Resource(id="r", kind="dns-record", provider="aws", name="x", connector="c", names=("API.Example.com.",))
    assert r.names == ("api.example.com",)


def test_entities_are_frozen():
    g = Grant(identity_id="a", capability=Capability.DNS_WRITE, resource_id="z", via=("p",), connector="c")
    with pytest.raises(AttributeError):
        g.resource_id = "other"  # type: ignore[misc]
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.MEDIUM.rank > Severity.LOW.rank
