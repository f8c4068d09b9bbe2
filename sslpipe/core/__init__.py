"""The bottom layer: errors, parameter schema and validation, registries, atomic I/O, paths and
the process runtime. Imports nothing of sslpipe outside core (tests/test_layers.py)."""
