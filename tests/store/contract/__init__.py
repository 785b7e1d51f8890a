"""The store contract suite (River's driver test suite): one file per area of the port, every
test run on every store adapter (the ``store`` fixture, ``tests/store/conftest.py``), time passed
in explicitly, nothing sleeping. Its builders are in ``builders.py``."""
