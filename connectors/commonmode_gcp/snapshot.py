"""What the GCP connector read: every object in the REST/JSON shape Google's APIs document (camelCase; the gRPC
answers of google-cloud-iam converted back to it), per project and for the hierarchy above. The build reads only
this, so a snapshot can be built from recorded or seeded JSON as well.

Names are normalised once, here: a project is `projects/PROJECT_ID` (Resource Manager names it by number), and
every resource that carries its own allow policy is keyed by its full resource name with the project id
(`//dns.googleapis.com/projects/P/managedZones/Z`, `//secretmanager.googleapis.com/projects/P/secrets/S`,
`//iam.googleapis.com/projects/P/serviceAccounts/EMAIL`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass
class ProjectData:
    """One project's objects."""

    id: str  # the project id
    number: str
    parent: str  # folders/N or organizations/N ("" when not known)
    labels: dict[str, str] = field(default_factory=dict)
    display_name: str = ""
    service_accounts: list[Json] = field(default_factory=list)
    keys: dict[str, list[Json]] = field(default_factory=dict)  # email -> user-managed keys (metadata only)
    custom_roles: list[Json] = field(default_factory=list)
    pools: list[Json] = field(default_factory=list)
    providers: dict[str, list[Json]] = field(default_factory=dict)  # pool name -> providers
    zones: list[Json] = field(default_factory=list)
    rrsets: dict[str, list[Json]] = field(default_factory=dict)  # zone name -> record sets
    secrets: list[Json] = field(default_factory=list)
    certificates: list[Json] = field(default_factory=list)
    certificate_maps: list[Json] = field(default_factory=list)
    dns_authorizations: list[Json] = field(default_factory=list)


@dataclass
class Snapshot:
    """Everything one connector run read."""

    organization: str = ""  # organizations/N, when known
    #: folder or project (`projects/ID`) -> its parent, as Resource Manager returned it
    parents: dict[str, str] = field(default_factory=dict)
    folder_names: dict[str, str] = field(default_factory=dict)  # folders/N -> display name
    projects: list[ProjectData] = field(default_factory=list)
    #: resource name (organizations/N, folders/N, projects/ID, or a full resource name) -> its allow policy
    policies: dict[str, Json] = field(default_factory=dict)
    #: deny policies (IAM v2, with their rules), each with the container it is attached to (`projects/ID` ...)
    deny_policies: list[tuple[str, Json]] = field(default_factory=list)
    roles: dict[str, Json] = field(default_factory=dict)  # role name -> Role with includedPermissions
    #: resources whose allow policy could not be read: what is granted there (and below) is not known
    unread_policies: set[str] = field(default_factory=set)
    #: group email -> its members' emails, direct and indirect (Cloud Identity), for every group a policy names
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: groups whose members could not be read (a gap says why): who gets what through them is missing
    groups_unread: set[str] = field(default_factory=set)
