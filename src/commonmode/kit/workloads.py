"""External workloads (CI jobs, Kubernetes service accounts, other issuers' subjects) as identities, the same
whichever connector meets them: one id (kit.ids), kind, name, the `broad_trust` tag a trust written too broadly
earns, and the fault domain of the system that runs them, so that a failover that only CI can perform depends
on CI being up (`ci:github-actions`, `ci:gitlab`, `k8s:cluster:ISSUER`)."""

from __future__ import annotations

from commonmode.kit import ids
from commonmode.model import Identity

#: The tag the broad-federated-trust rule reads (correlate.rules.BROAD_TRUST_TAG), with why in its value.
BROAD_TRUST = "broad_trust"


def fault_domains(workload: str) -> tuple[str, ...]:
    """Where a workload runs: GitHub Actions for a GitHub repository, GitLab CI, the Kubernetes cluster whose
    issuer signs its tokens; none for an issuer the scanner does not know."""
    if workload.startswith("github:"):
        return ("ci:github-actions",)
    if workload.startswith("gitlab:"):
        return ("ci:gitlab",)
    if workload.startswith("k8s:"):
        return (f"k8s:cluster:{workload.removeprefix('k8s:').rpartition(':')[0]}",)
    return ()


def workload_identity(workload: str, connector: str, broad: str | None = None) -> Identity:
    """The identity of an external workload a trust admits; `broad`: why the trust admits more than one
    (else the kit's own reading of the id, ids.broad_trust)."""
    provider = workload.split(":", 1)[0]
    why = broad or ids.broad_trust(workload)
    return Identity(id=workload, provider=provider,
                    kind="ci-workload" if provider in ("github", "gitlab") else "oidc-workload",
                    name=ids.workload_name(workload), connector=connector,
                    tags={BROAD_TRUST: why} if why else {}, fault_domains=fault_domains(workload))
