"""The Vault / OpenBao connector (see connectors/commonmode_vault/README.md)."""
