"""Native ids of every provider a connector may have to name, built and parsed in one place.

A connector names identities of other providers too (a Vault role bound to an AWS role, a GCP service
account or a GitHub repository): a cross-provider link holds only when both sides spell the id the same way,
so every connector builds them here. Formats, from each provider's documentation:

- AWS ARN: `arn:partition:service:region:account-id:resource` (IAM User Guide, "IAM identifiers", ARNs;
  AWS General Reference, "Amazon Resource Names (ARNs)"): region and account may be empty (IAM, Route 53).
- Azure: a directory object's id is its object id, a GUID (Microsoft Graph, "servicePrincipal resource
  type": id); an ARM resource id is
  `/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}` (Azure Resource Manager,
  "Resource name rules" and the `resourceId` template function).
- GCP: a full resource name is `//{service}.googleapis.com/{relative name}` (Google Cloud APIs, "Resource
  names"); a service account's is `//iam.googleapis.com/projects/{project}/serviceAccounts/{email}`, and a
  user-managed account's email is `{name}@{project}.iam.gserviceaccount.com` (IAM docs, "Service accounts").
- Vault: `vault://{connector}/{API path}`, the path as the API serves it (commonmode's own scheme: Vault has
  no global id; README, "Ids").
- External workloads (CI jobs, Kubernetes service accounts, other OIDC issuers' subjects), one id whichever
  provider trusts them, so that one repository acting in two clouds is one identity: `github:repo:{owner}/{repo}`
  (`github:repo:{owner}/*` for a trust that admits every repository of an owner, `github:any` for one that
  admits any repository on GitHub), `gitlab:project:{group}/{project}`, `k8s:{issuer}:{namespace}/{account}`,
  and `oidc:{issuer}:{subject}` for any other issuer (`*` for every subject). A workflow is
  `github:workflow:{owner}/{repo}/{path}`; an Actions token's `sub` is `repo:{owner}/{repo}:{context}` (GitHub
  Docs, "OpenID Connect reference", example subject claims).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# --- AWS ---------------------------------------------------------------------------------------------------


class Arn(NamedTuple):
    """The six parts of an ARN."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def arn(service: str, resource: str, *, account: str = "", region: str = "", partition: str = "aws") -> str:
    """An ARN from its parts (`arn("iam", "role/ci", account="111122223333")`)."""
    return str(Arn(partition, service, region, account, resource))


def parse_arn(text: str) -> Arn | None:
    """The parts of an ARN, or None when `text` is not one (the resource part may hold further colons)."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        return None
    return Arn(*parts[1:])


def iam_role_arn(account: str, name: str, *, partition: str = "aws") -> str:
    """The ARN of an IAM role (path-less name)."""
    return arn("iam", f"role/{name}", account=account, partition=partition)


def account_of(text: str) -> str:
    """The account of an ARN (`""` for one without, such as a Route 53 zone), or `text` itself when it is a
    bare account id, as policies' Principal elements may write it."""
    parsed = parse_arn(text)
    return parsed.account if parsed is not None else text


# --- Azure -------------------------------------------------------------------------------------------------

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def azure_object_id(value: str) -> str:
    """An Entra ID directory object (service principal, application, managed identity) by its object id, as
    Microsoft Graph reports it: the GUID itself."""
    return value


def is_azure_object_id(value: str) -> bool:
    """Whether `value` has the shape of an object id (a GUID)."""
    return _GUID.fullmatch(value) is not None


class AzureResourceId(NamedTuple):
    """The parts of an ARM resource id; resource_group, namespace, type and name are "" for a subscription."""

    subscription: str
    resource_group: str = ""
    namespace: str = ""
    type: str = ""
    name: str = ""

    def __str__(self) -> str:
        out = f"/subscriptions/{self.subscription}"
        if self.resource_group:
            out += f"/resourceGroups/{self.resource_group}"
        if self.namespace:
            out += f"/providers/{self.namespace}/{self.type}/{self.name}"
        return out


def azure_resource_id(subscription: str, resource_group: str = "", namespace: str = "", type: str = "",
                      name: str = "") -> str:
    """An ARM resource id (a subscription, a resource group, or a resource in one)."""
    return str(AzureResourceId(subscription, resource_group, namespace, type, name))


_AZURE_ID = re.compile(r"/subscriptions/([^/]+)(?:/resourceGroups/([^/]+)(?:/providers/([^/]+)/([^/]+)/([^/]+))?)?",
                       re.IGNORECASE)


def parse_azure_resource_id(text: str) -> AzureResourceId | None:
    """The parts of an ARM resource id of a subscription, a resource group or a top-level resource; None
    otherwise. ARM compares these case-insensitively; the parts keep the spelling given."""
    m = _AZURE_ID.fullmatch(text)
    return AzureResourceId(*(g or "" for g in m.groups())) if m else None


# --- GCP ---------------------------------------------------------------------------------------------------

_SERVICE_ACCOUNT_EMAIL = re.compile(r"[^@]+@([a-z][a-z0-9-]+)\.iam\.gserviceaccount\.com")


def gcp_resource_name(service: str, relative: str) -> str:
    """A full resource name: `//{service}.googleapis.com/{relative}`."""
    return f"//{service}.googleapis.com/{relative.lstrip('/')}"


def parse_gcp_resource_name(text: str) -> tuple[str, str] | None:
    """(service, relative name) of a full resource name, or None."""
    m = re.fullmatch(r"//([a-z0-9-]+)\.googleapis\.com/(.+)", text)
    return (m.group(1), m.group(2)) if m else None


def gcp_service_account(email: str, project: str | None = None) -> str:
    """A service account's full resource name, the id the GCP connector reports for it. The project is the
    one the email names (`name@project.iam.gserviceaccount.com`) unless given; `-` (any project, as the IAM
    API accepts it) when neither says."""
    if project is None:
        m = _SERVICE_ACCOUNT_EMAIL.fullmatch(email)
        project = m.group(1) if m else "-"
    return gcp_resource_name("iam", f"projects/{project}/serviceAccounts/{email}")


# --- Vault -------------------------------------------------------------------------------------------------


def vault_id(connector: str, path: str = "") -> str:
    """`vault://{connector}/{path}`: what a Vault connector instance reports for an API path."""
    base = f"vault://{connector}"
    return f"{base}/{path}" if path else base


def parse_vault_id(text: str) -> tuple[str, str] | None:
    """(connector, path) of a Vault id, or None."""
    m = re.fullmatch(r"vault://([^/]+)(?:/(.*))?", text)
    return (m.group(1), m.group(2) or "") if m else None


# --- GitHub ------------------------------------------------------------------------------------------------

_GITHUB_SUBJECT = re.compile(r"repo:([^:]+/[^:]+):")


#: Any repository on GitHub: what a trust of GitHub's issuer with no repository condition admits.
GITHUB_ANY = "github:any"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"


def github_repository(repository: str) -> str:
    """A GitHub repository (`owner/name`, or `owner/*` for every repository of an owner) as an identity:
    `github:repo:owner/name`."""
    return f"github:repo:{repository}"


def repository_of(workload: str) -> str | None:
    """The repository (`owner/name` or `owner/*`) a `github:repo:` id names, else None."""
    return workload.removeprefix("github:repo:") if workload.startswith("github:repo:") else None


def gitlab_project(path: str) -> str:
    """A GitLab project (`group/project`) as an identity: `gitlab:project:group/project`."""
    return f"gitlab:project:{path}"


def kubernetes_service_account(issuer: str, namespace: str, account: str) -> str:
    """A Kubernetes service account of a cluster's OIDC issuer: `k8s:{issuer}:{namespace}/{account}`."""
    return f"k8s:{issuer.rstrip('/')}:{namespace}/{account}"


def oidc_workload(issuer: str, subject: str = "*") -> str:
    """A subject (or pattern, `*` for any) of another OIDC issuer: `oidc:{issuer}:{subject}`."""
    return f"oidc:{issuer.rstrip('/')}:{subject}"


_K8S_SUBJECT = re.compile(r"system:serviceaccount:([^:]+):([^:]+)")
_GITLAB_SUBJECT = re.compile(r"project_path:([^:]+/[^:]+):")


def workload_of_subject(issuer: str, subject: str) -> str:
    """The external workload a token of `issuer` with `sub` = `subject` is: a GitHub repository, a GitLab
    project, a Kubernetes service account (`system:serviceaccount:ns:name`, the API server's subject), or the
    issuer's subject itself."""
    issuer = issuer.rstrip("/")
    if issuer == GITHUB_ISSUER and (subject == "*" or subject.startswith(("repo:*", "*"))):
        return GITHUB_ANY  # a pattern for every repository's subject
    if issuer == GITHUB_ISSUER and (repo := github_repository_of_subject(subject)):
        return github_repository(repo)
    if issuer == GITLAB_ISSUER and (m := _GITLAB_SUBJECT.match(subject)):
        return gitlab_project(m.group(1))
    if m := _K8S_SUBJECT.fullmatch(subject):
        return kubernetes_service_account(issuer, m.group(1), m.group(2))
    return oidc_workload(issuer, subject)


def broad_trust(workload: str) -> str | None:
    """Why a trust that admits `workload` admits more than one workload (a connector puts it in the identity's
    `broad_trust` tag, which the broad-federated-trust rule reads), or None for one exact workload."""
    if workload == GITHUB_ANY:
        return "it admits any repository on GitHub (no repository condition)"
    repo = repository_of(workload)
    if repo is not None and "*" in repo:
        return f"it admits every repository matching {repo}"
    if workload.startswith(("oidc:", "k8s:", "gitlab:")) and "*" in workload:
        return f"it admits every subject matching {workload.split(':', 1)[1]}"
    return None


def workload_name(workload: str) -> str:
    """A person's name for an external workload id: `acme/dns`, `every repository of acme`, `any repository on
    GitHub`, `ns/account on ISSUER`."""
    if workload == GITHUB_ANY:
        return "any repository on GitHub"
    if (repo := repository_of(workload)) is not None:
        return f"every repository of {repo[:-2]}" if repo.endswith("/*") else repo
    if workload.startswith("gitlab:project:"):
        return workload.removeprefix("gitlab:project:")
    if workload.startswith("k8s:"):
        issuer, _, account = workload.removeprefix("k8s:").rpartition(":")
        return f"{account} on {issuer}"
    if workload.startswith("oidc:") and workload.endswith(":*"):
        return f"any subject of {workload.removeprefix('oidc:')[:-2]}"
    return workload.removeprefix("oidc:")


def github_workflow(repository: str, path: str) -> str:
    """A workflow file of a repository: `github:workflow:owner/name/.github/workflows/x.yml`."""
    return f"github:workflow:{repository}/{path.lstrip('/')}"


def parse_github_id(text: str) -> tuple[str, str] | None:
    """(kind, rest) of a `github:` id (`("repo", "owner/name")`), or None."""
    parts = text.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "github" and parts[1] and parts[2] else None


def github_repository_of_subject(subject: str) -> str | None:
    """The repository an Actions OIDC token's `sub` claim names (`repo:owner/name:ref:…` → `owner/name`)."""
    m = _GITHUB_SUBJECT.match(subject)
    return m.group(1) if m else None
