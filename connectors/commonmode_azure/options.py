"""The `[[azure]]` config keys this connector takes: each default written here once, read by the
Connector class and the build alike."""

from __future__ import annotations

from commonmode.connector import Option

#: How the scanner logs in (azure-identity): `credential` takes one of these.
CREDENTIALS = ("default", "client-secret", "client-certificate", "managed-identity", "workload-identity",
               "azure-cli")

#: `[[azure]]` keys; each default is written here once (the build reads them from here too).
OPTIONS: dict[str, Option] = {
    "tenant_id": Option(type="string", required=True, help="the Entra tenant (directory) id, a GUID"),
    "subscriptions": Option(type="strings", help="subscription ids to scan "
                                                 "[default: every subscription the credential can list]"),
    "management_groups": Option(type="strings", help="management group names whose subscriptions are scanned "
                                                     "(their assignments reach every subscription below)"),
    "credential": Option(type="string", help="how to log in: " + " | ".join(CREDENTIALS), default="default"),
    "client_id": Option(type="string", help="application (client) id: client-secret, client-certificate, "
                                            "workload-identity, or a user-assigned managed identity"),
    "client_secret_env": Option(type="string", help="NAME of the env var holding the client secret",
                                default="AZURE_CLIENT_SECRET", names_a_secret=True),
    "client_certificate_path": Option(type="string", help="PEM certificate with its private key, relative to "
                                                          "the config (client-certificate)"),
    "authority": Option(type="string", help="Entra authority host (sovereign clouds, test servers)",
                        default="https://login.microsoftonline.com", url=True),
    "arm_endpoint": Option(type="string", help="Azure Resource Manager endpoint",
                           default="https://management.azure.com", url=True),
    "graph_endpoint": Option(type="string", help="Microsoft Graph endpoint", default="https://graph.microsoft.com",
                             url=True),
    "ca_bundle": Option(type="string", help="PEM file trusted for the authority, ARM and Graph, relative to the "
                                            "config (private CA, TLS-inspecting proxy); wins over "
                                            "REQUESTS_CA_BUNDLE and SSL_CERT_FILE"),
    "owner_tags": Option(type="strings", help="tag keys that name an owner, first match wins",
                         default=["owner", "Owner", "team", "Team"]),
}
