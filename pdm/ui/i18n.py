"""The app's language and clock for this browser session.

``pdm.i18n`` takes the language as an argument; the pages get it from here, where it lives in
Streamlit's session state (one per browser tab, never shared between users). The choice is the
user's stored one (``users.language``), else the company's locale, else English; the picker in
the sidebar changes it and stores it for the user. Times use the zone of the company's site
(``tenant`` sets it), UTC for pages that belong to no company.
"""

from __future__ import annotations

from decimal import Decimal

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm import i18n
from pdm.storage.tables import User

# Marks a module-level string for the catalogue; ``_()`` translates it where it is shown.
N_ = i18n.N_
LANG_STATE = "pdm_lang"
# Whose choice LANG_STATE holds: a new login (another user, same tab) resolves it again.
LANG_OWNER_STATE = "pdm_lang_owner"
TZ_STATE = "pdm_tz"
PICK_KEY = "pdm_lang_pick"
NAMES = {"fr": "Français", "en": "English"}


def lang() -> str:
    return st.session_state.get(LANG_STATE, i18n.DEFAULT_LANGUAGE)


def _(message: str) -> str:
    """``message`` in this session's language (the English source when it has no translation)."""
    return i18n.translations(lang()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.translations(lang()).ngettext(singular, plural, n)


def status(code: str) -> str:
    """ "Acquittée" for ACKNOWLEDGED: the stored code in words of this session's language."""
    return i18n.status_word(code, lang())


def severity(code: str | None) -> str:
    return i18n.severity_word(code, lang())


def when(ts: float | None, tz: str | None = None) -> str:
    """``14 nov. 2023, 23:53`` in the site's zone (``tz``, else the page's company's)."""
    return i18n.format_when(ts, lang=lang(), tz=tz or st.session_state.get(TZ_STATE))


def money(amount: float | Decimal | None) -> str:
    return i18n.format_money(amount, lang=lang())


def number(value: float | None, digits: int = 2, fixed: bool = False) -> str:
    return i18n.format_number(value, lang=lang(), digits=digits, fixed=fixed)


def share(fraction: float | None) -> str:
    return i18n.format_share(fraction, lang=lang())


def use_zone(tz: str | None) -> None:
    st.session_state[TZ_STATE] = tz or "UTC"


def resolve(make_session: sessionmaker[Session], *, username: str | None, company_locale: str | None) -> str:
    """This session's language, read from the user's row once per login (then the picker changes it)."""
    if username is not None and st.session_state.get(LANG_OWNER_STATE) != username:
        with make_session() as session:
            stored = session.execute(select(User.language).where(User.username == username)).scalar_one_or_none()
        st.session_state[LANG_STATE] = i18n.language(stored, company_locale)
        st.session_state[LANG_OWNER_STATE] = username
    return lang()


def _picked(make_session: sessionmaker[Session], username: str | None) -> None:
    choice = st.session_state.get(PICK_KEY)
    st.session_state[LANG_STATE] = i18n.language(choice)
    if username is None:
        return  # before login: this tab only
    with make_session.begin() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is not None:
            user.language = st.session_state[LANG_STATE]


def picker(make_session: sessionmaker[Session], *, username: str | None) -> None:
    """The sidebar's language choice, stored for the logged-in user."""
    st.session_state[PICK_KEY] = lang()
    st.sidebar.selectbox(
        _("Language"),
        list(i18n.LANGUAGES),
        format_func=lambda code: NAMES.get(code, code),
        key=PICK_KEY,
        on_change=_picked,
        args=(make_session, username),
    )


def hidden_reason(n_companies: int) -> str:
    """``pdm.savings.kanon.hidden_reason`` in this session's language."""
    from pdm.savings.kanon import K_MIN

    return ngettext(
        "Benchmark hidden: only {n} company in the group; at least {k} are needed so that no member can be recognised.",
        "Benchmark hidden: only {n} companies in the group; at least {k} are needed so that no member can be "
        "recognised.",
        n_companies,
    ).format(n=n_companies, k=K_MIN)
