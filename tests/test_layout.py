"""The dependency rule of the package, read from every import (lazy ones inside functions too).

The pure core imports nothing else of the package; configuration sits on the core; ports and
their adapters (store, broker, channels) import the core, the configuration and their own package;
metrics and the small process helpers sit on those; the operators' use-cases (ops) on them; the
roles (api, worker, loadgen, up) import all of the above and never each other; the CLI sits on
top. DESIGN.md, "Layout".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "notifyctl"

CORE = {"model", "ids", "errors", "lease", "retry", "validation", "claim_order", "shapes",
        "addresses", "tenants", "limits", "preferences", "templates", "recipients", "fanout",
        "personalize", "flow", "recipient_json", "pauses",
        "__init__"}  # fmt: skip
CONFIG = {"config"}
PORTS = {"store", "broker", "channels"}
METRICS = {"metrics"}
HELPERS = {"apikeys", "resources", "sdnotify", "serving", "slow_clients", "lifecycle", "ports",
           "exposure", "logs", "tracing"}  # fmt: skip
#: the operators' use-cases (inspect, dlq, pauses, keys...): shared by the command line and the
#: API's console, so one code path serves both
OPERATIONS = {"ops"}
ROLES = {"api", "worker", "loadgen", "up"}
CLI = {"cli", "__main__"}

#: layer -> the layers it may import (besides its own package, for ports and roles)
MAY_IMPORT = {
    "core": {"core"},
    "config": {"core", "config"},
    "ports": {"core", "config"},
    "metrics": {"core", "config", "ports", "metrics", "helpers"},
    "helpers": {"core", "config", "ports", "metrics", "helpers"},
    "operations": {"core", "config", "ports", "metrics", "helpers"},
    "roles": {"core", "config", "ports", "metrics", "helpers", "operations"},
    "cli": {"core", "config", "ports", "metrics", "helpers", "operations", "roles", "cli"},
}


def unit_of(module: str) -> str:
    """The first name under ``notifyctl``: a top-level module or a package."""
    return module.split(".")[1] if "." in module else "__init__"


def layer_of(unit: str) -> str:
    for layer, units in (("core", CORE), ("config", CONFIG), ("ports", PORTS),
                         ("metrics", METRICS), ("helpers", HELPERS),
                         ("operations", OPERATIONS), ("roles", ROLES),
                         ("cli", CLI)):  # fmt: skip
        if unit in units:
            return layer
    raise AssertionError(f"notifyctl/{unit} belongs to no layer: add it to tests/test_layout.py")


def is_unit(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name / "__init__.py").exists()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every ``notifyctl`` module this file imports, absolute or relative."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("notifyctl")}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports"
            base = node.module or ""
            if base == "notifyctl":  # from notifyctl import loadgen, __version__
                found |= {f"notifyctl.{alias.name}" for alias in node.names
                          if is_unit(alias.name)} | {"notifyctl"}  # fmt: skip
            elif base.startswith("notifyctl."):
                found.add(base)
    return found


def violations() -> list[str]:
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        unit = unit_of(module) if module != "notifyctl" else "__init__"
        layer = layer_of(unit)
        for target in sorted(imported(path)):
            target_unit = unit_of(target)
            if target_unit == unit:
                continue  # within one module or package
            target_layer = layer_of(target_unit)
            if target_layer not in MAY_IMPORT[layer]:
                broken.append(f"{module} ({layer}) imports {target} ({target_layer})")
            elif layer == "roles" and target_layer == "roles":
                broken.append(f"{module} imports another role: {target}")
    return broken


def test_every_import_follows_the_dependency_rule() -> None:
    assert violations() == []


def test_roles_is_gone_and_no_module_is_named_for_a_sibling_package() -> None:
    """The flat prefix families (``sqlite_*``, ``loadgen_*``, ...) became packages."""
    assert not (PACKAGE / "roles").exists()
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    packages |= {p.name for p in (PACKAGE / "store").iterdir() if (p / "__init__.py").exists()}
    prefixed = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for name in packages
        if path.stem.startswith(f"{name}_") or path.stem.startswith(f"{name.removesuffix('db')}_")
    ]
    assert prefixed == []


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("model", "notifyctl.store", False),  # the core imports nothing else
        ("store", "notifyctl.config", True),
        ("store", "notifyctl.worker", False),  # an adapter never reaches up into a role
        ("worker", "notifyctl.api", False),  # roles never import each other
        ("cli", "notifyctl.worker", True),
        ("api", "notifyctl.ops", True),  # the console replays through ops.dlq, as the CLI does
        ("ops", "notifyctl.api", False),  # operations serve the roles, never the reverse
    ],
)
def test_the_rule_itself(module: str, target: str, allowed: bool) -> None:
    layer, target_layer = layer_of(module), layer_of(unit_of(target))
    may = target_layer in MAY_IMPORT[layer] and not (layer == target_layer == "roles")
    assert may is allowed
