"""Driving the engineer page's add-endpoint form under AppTest and reading back what it saved."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Error

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Endpoint


def _flat(node):
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values():
        yield from _flat(child)


def error_after(at: AppTest, label: str) -> str | None:
    """The error shown right under the widget labelled ``label`` (None if there is none)."""
    items = list(_flat(at._tree))
    for i, el in enumerate(items):
        if getattr(el, "label", None) == label:
            nxt = items[i + 1] if i + 1 < len(items) else None
            return nxt.value if isinstance(nxt, Error) else None
    raise AssertionError(f"no widget labelled {label!r}")


def submit(at: AppTest, **values) -> AppTest:
    keys = {"name": "ep_name", "url": "ep_url", "username": "ep_username", "password_env": "ep_password_env"}
    for field, value in values.items():
        if field in keys:
            at.text_input(key=keys[field]).input(value)
        elif field in ("policy", "mode", "auth"):
            at.selectbox(key=f"ep_{field}").set_value(value)
        elif field == "trust":
            at.checkbox(key="ep_trust").check()
    at.button(key="FormSubmitter:add_endpoint-Test and save").click().run()
    assert not at.exception, at.exception
    return at


def endpoints(db: str) -> dict[str, Endpoint]:
    engine = make_engine(db)
    with session_factory(engine)() as s:
        out = {e.name: e for e in s.execute(select(Endpoint)).scalars()}
    engine.dispose()
    return out
