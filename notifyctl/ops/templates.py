"""``notifyctl templates push|list``: templates kept in files, in the user's repository, pushed to
a tenant's store (issue 16). Data only: the CLI prints (``cli/templates.py``).

Each ``*.yaml``, ``*.yml`` or ``*.toml`` file of a directory is one template, named by the file's
stem. Every file is read and compiled (``Template.parse``) before anything is written, and one
invalid file means nothing is written at all, so a push never leaves a half-updated set behind.
A template whose stored document is the same is left as it is (its version unchanged).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from notifyctl.errors import NotifyError
from notifyctl.shapes import template_summary_json
from notifyctl.store import Store
from notifyctl.templates import Template, TemplateInvalid, TemplateRecord
from notifyctl.tenants import tenant_name

SUFFIXES = (".yaml", ".yml", ".toml")
#: the listing's page size, as the API's largest
PAGE = 200


class TemplatesRequestError(NotifyError):
    """The command line named something that cannot be pushed or listed as stated."""


@dataclass(frozen=True)
class FileProblem:
    """One problem of one file: ``field`` and ``line`` as ``Template.parse`` names them (the
    line within that text), or where the file itself could not be read (``line`` of the file)."""

    file: str
    field: str
    message: str
    line: int | None = None


class TemplatesInvalid(NotifyError):
    """Some files are no templates; every problem of every file is in ``problems``."""

    def __init__(self, problems: list[FileProblem], files: int) -> None:
        invalid = len({problem.file for problem in problems})
        super().__init__(f"{invalid} of {files} template files are invalid; nothing was written")
        self.problems = problems


@dataclass(frozen=True)
class TemplateFile:
    path: Path
    name: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Pushed:
    name: str
    file: str
    #: ``created``, ``replaced`` or ``unchanged``
    outcome: str


def valid_tenant(text: str) -> str:
    try:
        return tenant_name(text)
    except ValueError as exc:
        raise TemplatesRequestError(str(exc)) from None


def template_files(directory: Path) -> list[Path]:
    """The template files of ``directory`` (not of its subdirectories), by name."""
    if not directory.is_dir():
        raise TemplatesRequestError(f"{directory} is not a directory")
    found = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not found:
        raise TemplatesRequestError(f"{directory} has no *.yaml, *.yml or *.toml files")
    return found


def read_templates(directory: Path) -> list[TemplateFile]:
    """Every template file of ``directory``, read and compiled; TemplatesInvalid naming every
    problem of every file when any is no template."""
    paths = template_files(directory)
    problems: list[FileProblem] = []
    read: list[TemplateFile] = []
    for path in paths:
        try:
            read.append(read_template(path))
        except TemplatesInvalid as exc:
            problems += exc.problems
    problems += same_names(read)
    if problems:
        raise TemplatesInvalid(problems, len(paths))
    return read


def read_template(path: Path) -> TemplateFile:
    document = json_document(path, load(path))
    try:
        Template.parse(path.stem, document)
    except TemplateInvalid as exc:
        problems = [FileProblem(str(path), p["field"], p["message"], p.get("line"))
                    for p in exc.problems]  # fmt: skip
        raise TemplatesInvalid(problems, 1) from None
    return TemplateFile(path, path.stem, document)


def load(path: Path) -> Any:
    """The file's content as YAML or TOML (by its suffix); a problem naming the file's line
    when it is neither."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            return tomllib.loads(text)
        return yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid_file(path, f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise invalid_file(path, f"is not TOML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise invalid_file(path, f"is not YAML: {getattr(exc, 'problem', exc)}", line) from None


def json_document(path: Path, value: Any) -> Any:
    """The content as JSON holds it (what the store keeps, and what is compiled): a date, or a
    key that is no string, has no JSON form and is refused rather than changed."""
    try:
        as_json = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise invalid_file(path, f"holds a value JSON cannot: {exc}") from None
    if as_json != value:
        raise invalid_file(path, "holds a key that is not a string (quote it)")
    return as_json


def invalid_file(path: Path, message: str, line: int | None = None) -> TemplatesInvalid:
    return TemplatesInvalid([FileProblem(str(path), "", message, line)], 1)


def same_names(files: list[TemplateFile]) -> Iterator[FileProblem]:
    """Two files of one stem (``a.yaml`` and ``a.toml``) would be one template twice."""
    first: dict[str, Path] = {}
    for file in files:
        if file.name in first:
            message = f"names the same template as {first[file.name]}: keep one of them"
            yield FileProblem(str(file.path), "name", message)
        first.setdefault(file.name, file.path)


def push(
    store: Store, tenant: str, files: list[TemplateFile], now: int, dry_run: bool = False
) -> list[Pushed]:
    """Put each template that is new or changed (none with ``dry_run``); what happened to each.
    The stored ones are read in one query."""
    stored = store.templates_by_names(valid_tenant(tenant), [file.name for file in files])
    results = []
    for file in files:
        before = stored.get(file.name)
        if before is not None and before.document == file.document:
            results.append(Pushed(file.name, str(file.path), "unchanged"))
            continue
        if not dry_run:
            store.put_template(tenant, file.name, file.document, now)
        outcome = "created" if before is None else "replaced"
        results.append(Pushed(file.name, str(file.path), outcome))
    return results


def pushed_json(results: list[Pushed]) -> list[dict[str, Any]]:
    return [asdict(result) for result in results]


def listing(store: Store, tenant: str) -> list[dict[str, Any]]:
    """Every template of the tenant, by name, as plain data for text or JSON (without texts)."""
    records: list[TemplateRecord] = []
    cursor = None
    while True:
        page = store.list_templates(valid_tenant(tenant), PAGE, cursor)
        records += page
        if len(page) < PAGE:
            return [template_summary_json(record) for record in records]
        cursor = page[-1].name
