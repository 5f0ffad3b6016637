"""The local sandbox, outside the read-only core: emulators on 127.0.0.1 (servers.py, also used by the tests
and the benchmarks), a fictional estate seeded into them through the real SDKs, one part per provider
(aws.py, vault.py, declared.py, composed by estate.py), and `commonmode demo` (demo.py), which the CLI
imports only when that command runs. Needs the demo extra: pip install -e '.[demo]'."""
