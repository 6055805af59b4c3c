"""No traceback from a URL: every query parameter the app reads, and the page path, fuzzed through AppTest.

The app reads ``session`` (pdm/ui/login.py), ``asset`` and ``alert`` (pdm/ui/common.take_id_param, from
the links between the alerts and assets pages), and the page path (``st.navigation``). Whatever a URL
carries, a visitor who is not logged in gets the login form, a technician gets a page of their own
company with at most a one-line warning naming the parameter, never ``st.exception`` and never
another company's data.

AppTest sends ``at.query_params`` through ``urllib.parse.urlencode``, which cannot encode a lone
surrogate; a browser sends one as its UTF-8 bytes (``%ED%A0%80``), so the bytes are what we send.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select
from streamlit.runtime.scriptrunner import RerunData
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import local_script_runner as runner
from streamlit.util import calc_hash

from pdm.access import users
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, Asset, Company
from pdm.ui.common import ID_DIGITS
from tests.helpers.app import APP, app_db, page_text
from tests.helpers.login import SECRET, seed_user

# What any parameter may be given: (case id, value). A list is the parameter repeated in the URL.
HOSTILE = [
    ("empty", ""),
    ("spaces", "   "),
    ("tab-newline", "\t\n"),
    ("e-acute", "é"),
    ("fraktur", "𝔘"),
    ("rtl-override", "\u202e1"),
    ("zero-width", "\u200b1"),
    ("nul", "\x00"),
    ("digit-nul", "1\x00"),
    ("surrogate-bytes", "\ud800".encode("utf-8", "surrogatepass")),
    ("invalid-utf8", b"\xff\xfe1"),
    ("long", "x" * 10_000),
    ("long-digits", "9" * 10_000),
    ("negative", "-1"),
    ("overflow-float", "1e309"),
    ("nan", "nan"),
    ("inf", "inf"),
    ("float", "1.0"),
    ("hex", "0x1"),
    ("superscript-digit", "²"),
    ("arabic-digit", "١"),
    ("fullwidth-digit", "１"),
    ("int64-overflow", "9" * 19),
    ("sql", "1 OR 1=1"),
    ("sql-quote", "1'; DROP TABLE alerts; --"),
    ("path", "../../etc/passwd"),
    ("markdown", "**[x](javascript:alert(1))** :red[boom] <script>alert(1)</script>"),
    ("repeated", ["1", "2"]),
    ("repeated-bad-last", ["1", "é"]),
]
# Values of the right shape: the page may take them or ignore them, but must not warn about the shape.
WELL_FORMED = [("zero", "0"), ("max-digits", "9" * ID_DIGITS), ("padded", " 1 ")]
TOKEN_HOSTILE = [
    ("no-dot", "eyJ1IjoiYW5hIn0"),
    ("only-dot", "."),
    ("two-dots", "a.b.c"),
    ("forged", "eyJ1IjoiYW5hIiwiZSI6MCwieCI6OTk5OTk5OTk5OX0.c2lnbmF0dXJl"),
    ("sig-non-ascii", "eyJ1IjoiYW5hIn0.é"),
    ("payload-not-base64", "!!!.AAAA"),
]
SHOWN = 80  # the longest cut of a value a message shows, before its "…"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(payload: object, key: str = SECRET) -> str:
    """A token signed with the app's key (or another): its payload is what principal_from_token parses."""
    encoded = _b64(json.dumps(payload).encode())
    return f"{encoded}.{_b64(hmac.new(key.encode(), encoded.encode(), hashlib.sha256).digest())}"


SOON = int(time.time()) + 3600
# Signed with the right key, so they reach the payload checks (a wrong signature stops them earlier).
SIGNED = [
    ("payload-list", _signed([1, 2])),
    ("payload-string", _signed("ana")),
    ("payload-number", _signed(7)),
    ("payload-null", _signed(None)),
    ("x-string", _signed({"u": "ana", "e": 0, "x": "tomorrow"})),
    ("x-missing", _signed({"u": "ana", "e": 0})),
    ("x-list", _signed({"u": "ana", "e": 0, "x": [SOON]})),
    ("expired", _signed({"u": "ana", "e": 0, "x": 1})),
    ("e-list", _signed({"u": "ana", "e": [0], "x": SOON})),
    ("e-wrong", _signed({"u": "ana", "e": 99, "x": SOON})),
    ("u-unknown", _signed({"u": "nobody", "e": 0, "x": SOON})),
    ("u-null", _signed({"u": None, "e": 0, "x": SOON})),
    ("x-infinite", _signed({"u": "ana", "e": 0, "x": float("inf")})),
    ("x-huge", _signed({"u": "ana", "e": 0, "x": 10**400})),
    ("x-beyond-ttl", _signed({"u": "ana", "e": 0, "x": SOON + 10 * 24 * 3600})),
    ("e-bool", _signed({"u": "ana", "e": False, "x": SOON})),
    ("wrong-key", _signed({"u": "ana", "e": 0, "x": SOON}, key="not-the-key")),
    ("u-list", _signed({"u": ["ana"], "e": 0, "x": SOON})),
    ("u-dict", _signed({"u": {"name": "ana"}, "e": 0, "x": SOON})),
    # json.dumps writes NaN, json.loads reads it back as float('nan'), and nan < now is False.
    ("x-nan", _signed({"u": "ana", "e": 0, "x": float("nan")})),
]
# Page paths a URL may name: as the frontend asks for them (a page name) and as a script hash.
PATHS = [
    ("empty", ""),
    ("traversal", "../../etc/passwd"),
    ("admin-page", "users"),
    ("audit-page", "audit"),
    ("engineer-page", "endpoints"),
    ("unicode", "𝔘\u202e"),
    ("nul", "\x00"),
    ("long", "p" * 10_000),
    ("sql", "alerts' OR '1'='1"),
]
TECH_PAGES = {"Overview", "Alerts", "Assets"}
BETA_TEXT = ("Beta Metals", "Press B1", "hydraulic_pressure")
ALPHA_TEXT = ("Alpha Foods", "Pump A1", "Fan A2", "vibration")


def _ids(cases):
    return [c.id if hasattr(c, "id") else c[0] for c in cases]


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> dict:
    """One database for the whole module (every case only reads): two technicians, their tokens and ids."""
    url = app_db(tmp_path_factory.mktemp("url_fuzz") / "pdm.sqlite3")
    tokens = {"ana": seed_user(url, "ana", "technician", "alpha"), "bea": seed_user(url, "bea", "technician", "beta")}
    engine = make_engine(url)
    with session_factory(engine)() as session:
        assets = dict(session.execute(select(Asset.slug, Asset.id)).all())
        (alert_id,) = session.execute(select(Alert.id)).scalars().all()
        beta = session.execute(select(Company.name)).scalars().all()
    engine.dispose()
    assert "Beta Metals" in beta
    return {"url": url, "tokens": tokens, "assets": assets, "alert": alert_id}


@pytest.fixture
def env(monkeypatch, plant):
    monkeypatch.setenv("PDM_DATABASE_URL", plant["url"])
    monkeypatch.setenv(users.SECRET_ENV, SECRET)
    return plant


def _run(params: dict, *, page_hash: str = "") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    for name, value in params.items():
        at.query_params[name] = value
    at._page_hash = page_hash
    return at.run()


def _last(value) -> str:
    """The parameter as the app reads it: the last of repeated ones, bytes decoded as Streamlit does."""
    value = value[-1] if isinstance(value, list) else value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _malformed(value) -> bool:
    text = _last(value).strip()
    return bool(text) and not (text.isascii() and text.isdigit() and len(text) <= ID_DIGITS)


def _no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for message in [*at.warning, *at.error]:
        # One line, and the value in it cut: a 10,000-character parameter does not fill the page.
        shown = message.value.replace("\\", "")  # as read: without the markdown escapes
        assert "\n" not in message.value and len(shown) < SHOWN + 120, message.value


def _login_page(at: AppTest) -> None:
    _no_traceback(at)
    assert [t.value for t in at.title] == ["Log in"]
    assert at.text_input(key="login_user") is not None and at.text_input(key="login_password") is not None
    text = page_text(at)
    assert not any(word in text for word in ALPHA_TEXT + BETA_TEXT), text


def _own_page(at: AppTest, title: str, foreign: tuple[str, ...] = BETA_TEXT) -> str:
    _no_traceback(at)
    assert at.title[0].value == title
    text = page_text(at)
    assert not any(word in text for word in foreign), text
    return text


def _warned_about(at: AppTest, name: str) -> bool:
    return any(f"`{name}`" in w.value for w in at.warning)


# Logged out: whatever the URL carries, the login form and nothing else.


@pytest.mark.parametrize(
    ("case", "value"), HOSTILE + TOKEN_HOSTILE + SIGNED, ids=_ids(HOSTILE + TOKEN_HOSTILE + SIGNED)
)
def test_logged_out_session_param_shows_the_login(env, case, value):
    _login_page(_run({"session": value}))


@pytest.mark.parametrize(("case", "value"), HOSTILE[::3], ids=_ids(HOSTILE[::3]))
def test_logged_out_other_params_show_the_login(env, case, value):
    _login_page(_run({"asset": value, "alert": value, "unknown": value}))


@pytest.mark.parametrize(("case", "path"), PATHS, ids=_ids(PATHS))
def test_logged_out_page_path_shows_the_login(env, monkeypatch, case, path):
    _login_page(_run({}, page_hash=calc_hash(path)))
    _login_page(_by_page_name(monkeypatch, {}, path))


# Logged in as a technician of Alpha: the page of the URL (or the landing one, the overview), its own company only.


@pytest.mark.parametrize(("case", "value"), HOSTILE + WELL_FORMED, ids=_ids(HOSTILE + WELL_FORMED))
def test_alert_param_on_the_alerts_page(env, case, value):
    at = _run({"session": env["tokens"]["ana"], "alert": value}, page_hash=calc_hash("alerts"))
    _own_page(at, "Alerts")
    assert _warned_about(at, "alert") == _malformed(value)
    assert "alert" not in at.query_params  # read once, then gone: a reload does not warn again


@pytest.mark.parametrize(("case", "value"), HOSTILE + WELL_FORMED, ids=_ids(HOSTILE + WELL_FORMED))
def test_asset_param_on_the_assets_page(env, case, value):
    at = _run({"session": env["tokens"]["ana"], "asset": value}, page_hash=calc_hash("assets"))
    _own_page(at, "Assets")
    if _malformed(value):
        assert _warned_about(at, "asset")
        assert at.selectbox(key="asset_pick_1").value == env["assets"]["fan-a2"]  # the first asset, as unlinked


@pytest.mark.parametrize(("case", "value"), HOSTILE[::3], ids=_ids(HOSTILE[::3]))
def test_alert_param_beside_a_valid_asset(env, case, value):
    pump = env["assets"]["pump-a1"]
    at = _run({"session": env["tokens"]["ana"], "asset": str(pump), "alert": value}, page_hash=calc_hash("assets"))
    _own_page(at, "Assets")
    assert at.selectbox(key="asset_pick_1").value == pump
    assert _warned_about(at, "alert") == _malformed(value)
    # A back link only for an alert id of the right shape.
    assert bool(at.get("page_link")) == (bool(_last(value).strip()) and not _malformed(value))


@pytest.mark.parametrize(
    ("case", "value"), HOSTILE[::6] + TOKEN_HOSTILE[:2], ids=_ids(HOSTILE[::6] + TOKEN_HOSTILE[:2])
)
def test_repeated_session_param_uses_the_last(env, case, value):
    good = env["tokens"]["ana"]
    _own_page(_run({"session": [_last(value), good]}), "Overview")  # the landing page
    _login_page(_run({"session": [good, _last(value) or "x"]}))


@pytest.mark.parametrize(("case", "path"), PATHS, ids=_ids(PATHS))
def test_logged_in_page_path_opens_a_technician_page(env, monkeypatch, case, path):
    token = env["tokens"]["ana"]
    for at in (
        _run({"session": token}, page_hash=calc_hash(path)),
        _by_page_name(monkeypatch, {"session": token}, path),
    ):
        _no_traceback(at)
        assert at.title[0].value in TECH_PAGES


def test_page_name_shim_really_asks_for_the_page(env, monkeypatch):
    # The check of the shim the path tests rely on: a real page name opens that page.
    _own_page(_by_page_name(monkeypatch, {"session": env["tokens"]["ana"]}, "assets"), "Assets")


# Another company's ids, well formed: nothing of that company, and the same words as for no such id.


def test_other_companys_ids_show_nothing_of_it(env):
    bea, ana = env["tokens"]["bea"], env["tokens"]["ana"]
    alpha_ids = [env["assets"]["pump-a1"], env["assets"]["fan-a2"]]
    for asset_id in alpha_ids:
        at = _run({"session": bea, "asset": str(asset_id), "alert": str(env["alert"])}, page_hash=calc_hash("assets"))
        _own_page(at, "Assets", foreign=ALPHA_TEXT)
        assert [w.value for w in at.warning] == [
            f"Ignored the link's `asset` parameter: Beta Metals has no asset {asset_id}."
        ]
        assert not at.get("page_link")
    at = _run({"session": bea, "alert": str(env["alert"])}, page_hash=calc_hash("alerts"))
    assert "No alerts for Beta Metals" in _own_page(at, "Alerts", foreign=ALPHA_TEXT)
    beta_press = env["assets"]["press-b1"]
    at = _run({"session": ana, "asset": str(beta_press)}, page_hash=calc_hash("assets"))
    _own_page(at, "Assets")
    assert [w.value for w in at.warning] == [
        f"Ignored the link's `asset` parameter: Alpha Foods has no asset {beta_press}."
    ]


def test_a_warning_shows_the_value_cut_and_escaped(env):
    at = _run({"session": env["tokens"]["ana"], "alert": "\u202e" + "*" * 200}, page_hash=calc_hash("alerts"))
    (warning,) = at.warning
    assert "\\u202e" in warning.value  # the direction override made visible, not obeyed
    assert warning.value.count("\\*") == SHOWN - 1 and "…" in warning.value


def _by_page_name(monkeypatch, params: dict, name: str) -> AppTest:
    """A run that asks for a page by name, as a browser does for the URL ``/<name>``.

    AppTest can only ask by script hash; its script runner builds the RerunData, so that is where
    the page name goes in."""
    with monkeypatch.context() as patch:
        patch.setattr(runner, "RerunData", functools.partial(RerunData, page_name=name))
        return _run(params)
