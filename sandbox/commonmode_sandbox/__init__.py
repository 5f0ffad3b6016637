"""The local sandbox, outside the read-only core: emulators and stand-ins on 127.0.0.1 (servers.py, also used
by the tests and the benchmarks; the Azure stand-in in azure.py and azure_estate.py, the GCP stand-ins in gcp.py
and gcp_estate.py), a fictional estate seeded into them through the real SDKs, one part per provider (aws.py,
vault.py, azure_part.py, gcp_part.py, composed by estate.py), and `commonmode demo` (demo.py), which the CLI
imports only when that command runs. Needs the demo extra: pip install -e '.[demo]'."""
