"""External workloads (CI jobs, Kubernetes service accounts, other issuers' subjects) as identities, the same
whichever connector meets them: one id (kit.ids), kind, name, the `broad_trust` tag a trust written too broadly
earns, and the fault domain of the system that runs them, so that a failover that only CI can perform depends
on CI being up (`ci:github-actions`, `ci:gitlab`, `k8s:cluster:ISSUER`)."""

from __future__ import annotations

import dataclasses

from commonmode.kit import ids
from commonmode.kit.github import broadest
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


#: Per-trust tags: `broad_trust:TARGET` (why the trust into TARGET is too broad, for an exact workload whose
#: other trusts may be exact) and `broad_trust_environment:TARGET` (`owner/repo:env`, the environment that alone
#: narrows that trust: the correlator exempts it when the config lists it as protected).
BROAD_TRUST_ENVIRONMENT = "broad_trust_environment"


class Admissions:
    """The external workloads one connector's trusts admit, collected so that each becomes one identity whose
    tags say, trust by trust, which of them are too broad: a pattern workload (`github:any`,
    `github:repo:o/*`, any subject of an issuer) is broad as a whole (`broad_trust`); an exact one only in the
    trusts that admit too many of its runs (`broad_trust:TARGET`)."""

    def __init__(self, connector: str) -> None:
        self.connector = connector
        self._whole: dict[str, str | None] = {}  # every workload admitted → why it is broad as a whole (patterns)
        self._owners: dict[str, str] = {}
        self._trusts: dict[str, dict[str, list[tuple[str, str | None]]]] = {}  # workload → target → broad trusts

    def admit(self, workload: str, target: str, broad: str | None = None, environment: str | None = None,
              owner: str | None = None) -> None:
        """`workload` may act as `target`; `broad`: why that trust admits too much, `environment` as above;
        `owner`: who the trust document says owns the workload (the first one named stands)."""
        if owner:
            self._owners.setdefault(workload, owner)
        whole = ids.broad_trust(workload)
        self._whole.setdefault(workload, (broad or whole) if whole else None)
        if broad and not whole:
            trusts = self._trusts.setdefault(workload, {}).setdefault(target, [])
            if (broad, environment) not in trusts:
                trusts.append((broad, environment))

    def _tags(self, workload: str) -> dict[str, str]:
        """The broad-trust tags of one workload: as a whole, or per target (several trusts into one target, two
        federated credentials on one application: every reason, and an environment only if it narrows each)."""
        whole = self._whole[workload]
        if whole:
            return {BROAD_TRUST: whole}
        tags: dict[str, str] = {}
        for target, trusts in self._trusts.get(workload, {}).items():
            why, env = broadest(trusts)
            tags[f"{BROAD_TRUST}:{target}"] = str(why)
            if env:
                tags[f"{BROAD_TRUST_ENVIRONMENT}:{target}"] = env
        return tags

    def identities(self, known: set[str] | None = None) -> list[Identity]:
        """One identity per workload admitted (in id order), less those already in `known`."""
        return [dataclasses.replace(workload_identity(wid, self.connector), tags=self._tags(wid),
                                    owner=self._owners.get(wid))
                for wid in sorted(self._whole) if known is None or wid not in known]
