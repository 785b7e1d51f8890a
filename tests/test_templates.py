"""Templates: compiled and checked at parse (every problem named, with its line), rendered in
Jinja2's sandbox with strict undefined, autoescape for HTML only, and the locale fallback chain."""

from __future__ import annotations

from typing import Any

import pytest

from notifyctl.templates import RenderError, Template, TemplateInvalid

ORDER = {
    "category": "orders",
    "variables": ["order_id", "name", "items"],
    "default_locale": "en",
    "channels": {
        "email": {"subject": "Order {{ order_id }} shipped",
                  "text": "Hi {{ name }},\nyour order {{ order_id }} is on its way.",
                  "html": "<p>Hi {{ name }}</p>"},
        "push": {"title": "Shipped", "body": "Order {{ order_id }}"},
        "sms": {"body": "Order {{ order_id }} shipped"},
        "webhook": {"body": {"event": "shipped", "order": "{{ order_id }}", "n": 1,
                             "lines": ["{% for i in items %}{{ i }},{% endfor %}"]}},
    },
    "locales": {
        "de": {"channels": {"push": {"title": "Versandt", "body": "Bestellung {{ order_id }}"}}},
        "pt-BR": {"channels": {"sms": {"body": "Pedido {{ order_id }} enviado"}}},
    },
}  # fmt: skip
DATA = {"order_id": "A-42", "name": "Ada", "items": ["book", "pen"]}


def problems_of(document: Any, name: str = "order-shipped") -> list[dict[str, Any]]:
    with pytest.raises(TemplateInvalid) as refused:
        Template.parse(name, document)
    return refused.value.problems


def test_a_template_renders_each_channel_with_the_data() -> None:
    template = Template.parse("order-shipped", ORDER)
    assert template.channels == ("email", "push", "sms", "webhook")
    assert template.category == "orders"
    assert template.required == {"order_id", "name", "items"}
    email = template.render("email", None, DATA)
    assert email["subject"] == "Order A-42 shipped"
    assert email["text"] == "Hi Ada,\nyour order A-42 is on its way."
    assert template.render("webhook", None, DATA)["body"] == {
        "event": "shipped", "order": "A-42", "n": 1, "lines": ["book,pen,"],
    }  # fmt: skip


def test_html_parts_are_escaped_and_text_parts_are_not() -> None:
    template = Template.parse("order-shipped", ORDER)
    evil = {**DATA, "name": "<script>alert(1)</script>"}
    email = template.render("email", None, evil)
    assert email["html"] == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert "<script>" in email["text"]  # plain text is not HTML: nothing to escape


def test_the_locale_falls_back_from_the_tag_to_its_language_to_the_default() -> None:
    template = Template.parse("order-shipped", ORDER)
    assert template.render("push", "de-AT", DATA)["title"] == "Versandt"
    assert template.render("push", "de", DATA)["title"] == "Versandt"
    assert template.render("push", "fr", DATA)["title"] == "Shipped"
    assert template.render("sms", "pt-BR", DATA)["body"] == "Pedido A-42 enviado"
    assert template.render("sms", "pt-PT", DATA)["body"] == "Order A-42 shipped"
    # a locale without this channel's texts uses the default locale's
    assert template.render("email", "de", DATA)["subject"] == "Order A-42 shipped"


def test_a_missing_variable_is_a_render_error_never_an_empty_string() -> None:
    template = Template.parse("order-shipped", ORDER)
    with pytest.raises(RenderError, match="order_id"):
        template.render("sms", None, {"name": "Ada"})


def test_the_sandbox_refuses_python_internals() -> None:
    document = {"channels": {"sms": {"body": "{{ name.__class__.__mro__ }}"}}}
    template = Template.parse("probe", document)
    with pytest.raises(RenderError):
        template.render("sms", None, {"name": "x"})
    unsafe = {"channels": {"sms": {"body": "{{ ''.__class__.__base__.__subclasses__() }}"}}}
    with pytest.raises(RenderError):
        Template.parse("probe", unsafe).render("sms", None, {})


def test_a_template_that_does_not_compile_is_refused_naming_the_field_and_line() -> None:
    document = {"channels": {"email": {"subject": "ok", "text": "line one\n{% if %}\n"}}}
    (problem,) = problems_of(document)
    assert problem["field"] == "channels.email.text" and problem["line"] == 2


def test_a_variable_outside_the_declared_ones_is_refused_with_its_line() -> None:
    document = {"variables": ["order_id"],
                "channels": {"sms": {"body": "Order {{ order_id }}\nfor {{ nmae }}"}}}  # fmt: skip
    (problem,) = problems_of(document)
    message = "uses 'nmae', which is not among the declared variables"
    assert problem == {"field": "channels.sms.body", "line": 2, "message": message}


def test_variables_set_inside_the_template_are_not_data() -> None:
    loop = "{% for i in items %}{{ i }}{% endfor %}"
    document = {"variables": ["items"], "channels": {"sms": {"body": loop}}}
    assert Template.parse("t", document).required == {"items"}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], ""),
        ({"channels": {}}, "channels"),
        ({"channels": {"fax": {"body": "x"}}}, "channels.fax"),
        ({"channels": {"sms": {"subject": "x"}}}, "channels.sms"),
        ({"channels": {"sms": {"body": 7}}}, "channels.sms.body"),
        ({"channels": {"sms": {"body": "x" * 100_001}}}, "channels.sms.body"),
        ({"channels": {"sms": {"body": "x"}}, "colour": "red"}, "colour"),
        ({"channels": {"sms": {"body": "x"}}, "default_locale": "english"}, "default_locale"),
        ({"channels": {"sms": {"body": "x"}}, "locales": {"xx_YY": {}}}, "locales.xx_YY"),
        ({"channels": {"sms": {"body": "x"}}, "locales": {"de": {"sms": {}}}}, "locales.de"),
        ({"channels": {"sms": {"body": "x"}}, "variables": "order_id"}, "variables"),
        ({"channels": {"sms": {"body": "x"}}, "category": ""}, "category"),
    ],
)
def test_each_kind_of_bad_document_is_refused_naming_its_field(document: Any, field: str) -> None:
    assert field in [problem["field"] for problem in problems_of(document)]


def test_every_problem_is_named_at_once() -> None:
    document = {"variables": [], "colour": "red",
                "channels": {"sms": {"body": "{{ a }}"}, "push": {"title": "{% %}"}}}  # fmt: skip
    assert {p["field"] for p in problems_of(document)} == {
        "colour", "channels.sms.body", "channels.push.title",
    }  # fmt: skip


def test_a_bad_name_is_refused() -> None:
    assert [p["field"] for p in problems_of(ORDER, name="Order Shipped!")] == ["name"]
