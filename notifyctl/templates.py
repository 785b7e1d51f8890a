"""Templates: a named set of texts per channel and locale, written by clients and rendered with
each notification's ``data`` (issue 16). Pure: no store, no I/O.

A template document::

    {"category": "orders", "variables": ["order_id", "name"], "default_locale": "en",
     "channels": {"email": {"subject": "...", "text": "...", "html": "..."},
                  "push": {"title": "...", "body": "..."}, "sms": {"body": "..."},
                  "webhook": {"body": {"any": "JSON whose strings are templates"}}},
     "locales": {"de": {"channels": {...}}}}

Texts are Jinja2 templates rendered in Jinja2's sandbox: no attribute access to Python
internals, ``StrictUndefined`` (a missing variable is an error, never an empty string), and
autoescape for ``html`` parts only. ``Template.parse`` compiles every text and refuses the whole
document, naming each problem (field and line), when one does not compile or uses a variable
outside ``variables`` (when it declares them); ``render`` picks the locale by the fallback chain
exact tag, its language, the default.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2 import Template as Compiled
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from notifyctl.preferences import locale as locale_tag

#: the parts each logical channel's texts have (``push`` is APNs and FCM alike)
CHANNEL_PARTS = {
    "email": frozenset({"subject", "text", "html"}),
    "push": frozenset({"title", "body"}),
    "sms": frozenset({"body"}),
    "webhook": frozenset({"body"}),
}
CHANNEL_NAMES = ", ".join(CHANNEL_PARTS)
TEMPLATE_RULE = "1-128 characters of lowercase letters, digits, '.', '_' and '-'"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
MAX_SOURCE_CHARS = 100_000
MAX_LOCALES = 50
MAX_RENDERED_CHARS = 1_000_000
BYPASS = "high_priority_bypasses_quiet_hours"
_TEXT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
Texts = dict[str, Any]  # part -> source (a string; the webhook body may be any JSON)


class TemplateInvalid(ValueError):
    """A template document refused, with every problem found: ``{"field", "message"}`` (and
    ``"line"`` for a problem inside a text)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems


class RenderError(ValueError):
    """The texts could not be rendered with this data (a missing variable, a sandbox refusal,
    output beyond ``MAX_RENDERED_CHARS``)."""


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    """A tenant's template as the store keeps it: the document ``Template.parse`` accepted (as
    JSON), with its times (epoch milliseconds) and ``version``: 1 when created, one more at each
    replace, so a cache can tell a changed template from the one it holds."""

    tenant: str
    name: str
    document: dict[str, Any]
    version: int
    created_at: int
    updated_at: int


def template_name(text: str) -> str:
    if not _NAME.fullmatch(text):
        raise ValueError(f"invalid template name {text!r}: {TEMPLATE_RULE}")
    return text


@dataclass(frozen=True)
class Template:
    name: str
    category: str | None
    default_locale: str
    #: locale -> channel -> part -> source; the default locale's texts under ``default_locale``
    texts: dict[str, dict[str, Texts]]
    #: the data keys the texts may use; None: whatever they use is required
    variables: frozenset[str] | None
    #: the top-level variables the texts use (``data`` must have each at intake)
    required: frozenset[str]
    #: a ``high`` priority notification of this template is delivered inside the recipient's
    #: quiet hours (a one-time code, a security alert); others wait for the window's end
    high_priority_bypasses_quiet_hours: bool = False
    _compiled: dict[tuple[str, str, str, str], Compiled] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def parse(cls, name: str, document: Any) -> Template:
        """The template, compiled; TemplateInvalid naming every problem."""
        return _Parser(name, document).template()

    @property
    def channels(self) -> tuple[str, ...]:
        """The logical channels the template has texts for (its default locale's)."""
        return tuple(c for c in CHANNEL_PARTS if c in self.texts[self.default_locale])

    def locale_for(self, wanted: str | None) -> str:
        """The fallback chain: the exact tag, then its language, then the default."""
        if wanted:
            for candidate in (wanted, wanted.split("-")[0]):
                if candidate in self.texts:
                    return candidate
        return self.default_locale

    def render(self, channel: str, wanted_locale: str | None, data: dict[str, Any]) -> Texts:
        """The channel's texts rendered with ``data`` in the best locale; a locale without this
        channel uses the default locale's texts. RenderError when they cannot be."""
        locale = self.locale_for(wanted_locale)
        if channel not in self.texts[locale]:
            locale = self.default_locale
        texts = self.texts[locale].get(channel)
        if texts is None:
            raise RenderError(f"template {self.name!r} has no {channel} texts")
        return {part: self._rendered((locale, channel, part), source, data)
                for part, source in texts.items()}  # fmt: skip

    def _rendered(self, where: tuple[str, str, str], source: Any, data: dict[str, Any]) -> Any:
        if isinstance(source, str):
            compiled = self._compiled[(*where, "")]
            try:
                text = compiled.render(data)
            except JinjaError as exc:
                raise RenderError(f"{'.'.join(where)}: {exc}") from None
            if len(text) > MAX_RENDERED_CHARS:
                limit = f"longer than {MAX_RENDERED_CHARS} characters"
                raise RenderError(f"{'.'.join(where)}: {limit}")
            return text
        if isinstance(source, dict):
            return {k: self._rendered((*where[:2], f"{where[2]}.{k}"), v, data)
                    for k, v in source.items()}  # fmt: skip
        if isinstance(source, list):
            return [self._rendered((*where[:2], f"{where[2]}.{i}"), v, data)
                    for i, v in enumerate(source)]  # fmt: skip
        return source  # numbers, booleans, null in a webhook body


class _Parser:
    """One pass over a template document, gathering every problem before refusing."""

    def __init__(self, name: str, document: Any) -> None:
        self.name, self.document = name, document
        self.problems: list[dict[str, Any]] = []
        self.compiled: dict[tuple[str, str, str, str], Compiled] = {}
        self.used: set[str] = set()
        #: variable -> where it is first used, and on which line
        self.first_use: dict[str, tuple[str, int]] = {}

    def problem(self, where: str, message: str, line: int | None = None) -> None:
        entry: dict[str, Any] = {"field": where, "message": message}
        if line is not None:
            entry["line"] = line
        self.problems.append(entry)

    def template(self) -> Template:
        doc = self.document
        if not isinstance(doc, dict):
            raise TemplateInvalid([{"field": "", "message": "a template must be a JSON object"}])
        try:
            template_name(self.name)
        except ValueError as exc:
            self.problem("name", str(exc))
        unknown = set(doc) - {"category", "variables", "default_locale", "channels", "locales",
                              BYPASS}  # fmt: skip
        for key in sorted(unknown):
            self.problem(key, "unknown field")
        category = self._category(doc.get("category"))
        variables = self._variables(doc.get("variables"))
        default = self._default_locale(doc.get("default_locale", "en"))
        texts = {default: self._channels("channels", doc.get("channels"), True, default)}
        texts.update(self._locales(doc.get("locales", {}), default))
        self._check_used(variables)
        bypass = doc.get(BYPASS, False)
        if not isinstance(bypass, bool):
            self.problem(BYPASS, "must be true or false")
        if self.problems:
            raise TemplateInvalid(self.problems)
        return Template(self.name, category, default, texts, variables, frozenset(self.used),
                        bypass is True, self.compiled)  # fmt: skip

    def _category(self, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 64):
            self.problem("category", "must be a string of 1 to 64 characters")
            return None
        return value

    def _variables(self, value: Any) -> frozenset[str] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem("variables", "must be a list of the data keys the texts may use")
            return None
        return frozenset(value)

    def _default_locale(self, value: Any) -> str:
        try:
            return locale_tag(value) if isinstance(value, str) else locale_tag("")
        except ValueError as exc:
            self.problem("default_locale", str(exc))
            return "en"

    def _locales(self, value: Any, default: str) -> Iterator[tuple[str, dict[str, Texts]]]:
        if not isinstance(value, dict) or len(value) > MAX_LOCALES:
            self.problem("locales", f"must be an object of at most {MAX_LOCALES} locales")
            return
        for tag, entry in value.items():
            try:
                locale_tag(tag)
            except ValueError as exc:
                self.problem(f"locales.{tag}", str(exc))
                continue
            if tag == default:
                self.problem(f"locales.{tag}", "is the default locale: its texts are 'channels'")
                continue
            if not isinstance(entry, dict) or set(entry) != {"channels"}:
                self.problem(f"locales.{tag}", 'must be {"channels": {...}}')
                continue
            yield tag, self._channels(f"locales.{tag}.channels", entry["channels"], tag=tag)

    def _channels(
        self, where: str, value: Any, required: bool = False, tag: str = ""
    ) -> dict[str, Texts]:
        if not isinstance(value, dict) or (required and not value):
            self.problem(where, f"must be an object with texts for some of {CHANNEL_NAMES}")
            return {}
        found: dict[str, Texts] = {}
        for channel, parts in value.items():
            allowed = CHANNEL_PARTS.get(channel)
            if allowed is None:
                self.problem(f"{where}.{channel}", f"unknown channel: one of {CHANNEL_NAMES}")
            elif not isinstance(parts, dict) or not parts or not set(parts) <= allowed:
                parts_named = ", ".join(sorted(allowed))
                self.problem(f"{where}.{channel}", f"must be an object of some of {parts_named}")
            else:
                self._compile_all(f"{where}.{channel}", tag, channel, parts)
                found[channel] = parts
        return found

    def _compile_all(self, where: str, tag: str, channel: str, parts: Texts) -> None:
        for part, source in parts.items():
            if channel == "webhook":
                for path, leaf in _string_leaves(source, part):
                    self._compile(f"{where}.{path}", (tag, channel, path, ""), leaf, False)
            elif isinstance(source, str):
                self._compile(f"{where}.{part}", (tag, channel, part, ""), source, part == "html")
            else:
                self.problem(f"{where}.{part}", "must be a string")

    def _compile(self, where: str, key: tuple[str, str, str, str], source: str, html: bool) -> None:
        if len(source) > MAX_SOURCE_CHARS:
            self.problem(where, f"must be at most {MAX_SOURCE_CHARS} characters")
            return
        env = _HTML if html else _TEXT
        try:
            tree = env.parse(source)
            compiled = env.from_string(source)
        except TemplateSyntaxError as exc:
            self.problem(where, exc.message or "does not compile", exc.lineno)
            return
        self.compiled[key] = compiled
        for name in meta.find_undeclared_variables(tree):
            self.used.add(name)
            self.first_use.setdefault(name, (where, _first_line(tree, name)))

    def _check_used(self, variables: frozenset[str] | None) -> None:
        if variables is None:
            return
        for name in sorted(self.used - variables):
            where, line = self.first_use[name]
            self.problem(where, f"uses {name!r}, which is not among the declared variables", line)


def _string_leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """The strings inside a webhook body, with their paths (``body.order.id``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_leaves(item, f"{path}.{index}")


def _first_line(tree: nodes.Template, name: str) -> int:
    lines = [n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines, default=1)
