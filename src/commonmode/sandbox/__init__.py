"""The local sandbox: emulators and a seeded fictional estate for `commonmode demo` and the report samples."""
