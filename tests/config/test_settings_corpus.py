"""Settings that cannot lie: hundreds of generated bad settings files and ``PDM_*`` environments, each
refused in one line naming where the value came from (the file or the variable) and the field.

Every case goes through ``load_settings``, the function every command calls. A case passes when it
raises a ``ConfigError`` whose message is one line, starts with the expected source (the file's path,
or ``$PDM_…``), names the expected field, contains the expected fragment, echoes no secret and no value
longer than a readable cut. The valid variants (``config/*.toml``, no file at all, other programs'
``PDM_`` variables, every number written as a variable) must load.
"""

from __future__ import annotations

import gzip
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pdm.access import crypto, users
from pdm.config import Settings, load_settings
from pdm.config.settings import OTHER_ENV
from pdm.errors import ConfigError
from tests.helpers.config_errors import refusal_problem

EXAMPLES = sorted((Path(__file__).parents[2] / "config").glob("*.toml"))
SECRET = "Tr0ub4dor"

# The base file, as TOML literals: every key of Settings and of [retention].
TOP = {
    "database_url": '"sqlite:///var/pdm.sqlite3"',
    "var_dir": '"var"',
    "spool_max_bytes": "268435456",
    "streamlit_port": "8501",
    "lease_ttl_s": "15.0",
    "lease_renew_s": "5.0",
    "leader_retry_s": "5.0",
}
RETENTION = {
    "raw_days": "30",
    "aggregate_days": "730",
    "batch_rows": "50000",
    "partition_ahead_days": "3",
    "interval_s": "3600",
}
FLOATS = ["lease_ttl_s", "lease_renew_s", "leader_retry_s", "retention.raw_days", "retention.interval_s"]
INTS = ["spool_max_bytes", "streamlit_port", "retention.batch_rows", "retention.partition_ahead_days"]
# Out of bounds, per field: (too small, too large).
BOUNDS = {
    "lease_ttl_s": ("0.5", "3601"),
    "lease_renew_s": ("0.001", "601"),
    "leader_retry_s": ("0", "601"),
    "retention.raw_days": ("0.5", "3651"),
    "retention.interval_s": ("9", "86401"),
    "spool_max_bytes": ("1023", "1099511627777"),
    "streamlit_port": ("0", "65536"),
    "retention.batch_rows": ("99", "1000001"),
    "retention.partition_ahead_days": ("0", "61"),
}
BAD_TOML_NUMBERS = [
    "true",
    "false",
    '"30"',
    '""',
    "inf",
    "-inf",
    "nan",
    "+inf",
    "1e400",
    "-1",
    "[]",
    "[30]",
    "{}",
    "{ value = 1 }",
    "1979-05-27",
    "07:32:00",
    "1979-05-27T07:32:00Z",
    "10_000_000_000_000_000_000_000",
]
BAD_TOML_INTS = ["3.5", "30.0", "1e3"]
BAD_ENV_NUMBERS = [
    "30s",
    "true",
    "false",
    "",
    " 30",
    "30 ",
    "inf",
    "-inf",
    "nan",
    "1e400",
    "0x10",
    "1_000",
    "٣٠",
    "３０",
    "1,5",
    "9" * 50,
    "30\n",
    "-",
]
BAD_ENV_INTS = ["3.5", "1e3", "30."]
BAD_DATABASE_URLS = [
    ('"nonsense"', None),
    ('""', None),
    ('" sqlite:///x.db"', None),
    ('"sqlite:///x.db\\n"', None),
    ('"sqlite://host/x.db"', None),
    ('"mysql://h/db"', None),
    (f'"mysql://pdm:{SECRET}@h/db"', SECRET),
    (f'"postgresql://pdm:{SECRET}@db.example:0/pdm"', SECRET),
    (f'"postgresql://pdm:{SECRET}@db.example:99999/pdm"', SECRET),
    (f'"postgresql://pdm:{SECRET}@db.example:abc/pdm"', SECRET),
    (f'"postgresql://pdm:{SECRET[:3]}/{SECRET[3:]}@db.example:0/pdm"', SECRET[3:]),
    (f'"pdm:{SECRET}@db.example/pdm"', SECRET),
    ("5", None),
    ("true", None),
    (f'["postgresql://pdm:{SECRET}@db/pdm"]', SECRET),
    ('"' + "x" * 5000 + '"', None),
]
BAD_VAR_DIRS = ['""', '"  "', "5", "true", "[]", "{}", '"a\\u0000b"', '"a\\nb"', '"' + "x" * 5000 + '"']
# Variables that are no setting but close to one: refused with the name meant.
NEAR_MISSES = {
    "PDM_LEASE_TTL": ("lease_ttl", "PDM_LEASE_TTL_S"),
    "PDM_LEASE_TTL_SECONDS": ("lease_ttl_seconds", "PDM_LEASE_TTL_S"),
    "PDM_DATABASE_URI": ("database_uri", "PDM_DATABASE_URL"),
    "PDM_DATABASEURL": ("databaseurl", "PDM_DATABASE_URL"),
    "pdm_var_dir": ("var_dir", "PDM_VAR_DIR"),
    "Pdm_Streamlit_Port": ("streamlit_port", "PDM_STREAMLIT_PORT"),
    "PDM_VARDIR": ("vardir", "PDM_VAR_DIR"),
    "PDM_STREAMLIT_PRT": ("streamlit_prt", "PDM_STREAMLIT_PORT"),
    "PDM_SPOOL_MAX": ("spool_max", "PDM_SPOOL_MAX_BYTES"),
    "PDM_RETENTION_RAW_DAYS": ("retention_raw_days", "PDM_RETENTION__RAW_DAYS"),
    "PDM_RETENTION__RAWDAYS": ("retention.rawdays", "PDM_RETENTION__RAW_DAYS"),
    "PDM_RETENTION__RAW_DAY": ("retention.raw_day", "PDM_RETENTION__RAW_DAYS"),
    "PDM_RETENTION__COLOUR": ("retention.colour", None),
    "PDM_RETENTION": ("retention", "PDM_RETENTION__RAW_DAYS"),
    "PDM_FERNET_KEYS": ("fernet_keys", "PDM_FERNET_KEY"),
    "PDM_SECRETKEY": ("secretkey", "PDM_SECRET_KEY"),
}
# Other programs' PDM_ variables (the PDM package manager's) and the service's others: ignored.
FOREIGN_ENV = {
    "PDM_HOME": "/opt/pdm",
    "PDM_CACHE_DIR": "/tmp/pdm-cache",
    "PDM_LOG_DIR": "/tmp/pdm-log",
    "PDM_PYTHON": "/usr/bin/python3",
    "PDM_USE_VENV": "true",
    "PDM_PUBLISH_PASSWORD": SECRET,
    "PDM_RESOLVE_MAX_ROUNDS": "10000",
    "PDM_NON_INTERACTIVE": "1",
    "PDM_TEST_POSTGRES_URL": f"postgresql://pdm:{SECRET}@h/pdm",
    "PDM_FERNET_KEY": "x" * 44,
    "PDM_SECRET_KEY": SECRET,
    "HOME": "/root",
}


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes | None  # the settings file, or None for no file
    env: dict[str, str] = field(default_factory=dict)
    field: str | None = None  # the exact field the error must name
    source: str | None = None  # "$PDM_…" when a variable is to blame; else the file (or "<settings>")
    fragment: str | None = None
    secret: str | None = None


def settings_text(
    top: dict[str, str] | None = None, retention: dict[str, str] | None = None, extra: str = "", tables: bool = True
) -> str:
    """The base file with ``top`` and ``retention`` (TOML literals) instead of the base's; no [retention]
    table unless ``tables``; ``extra`` appended."""
    lines = [f"{k} = {v}" for k, v in (TOP if top is None else top).items()]
    if tables:
        lines += ["", "[retention]"] + [
            f"{k} = {v}" for k, v in (RETENTION if retention is None else retention).items()
        ]
    return "\n".join(lines) + "\n" + extra


def with_value(path: str, literal: str) -> bytes:
    if path.startswith("retention."):
        return settings_text(retention={**RETENTION, path.split(".", 1)[1]: literal}).encode()
    return settings_text(top={**TOP, path: literal}).encode()


def env_name(path: str) -> str:
    return "PDM_" + path.upper().replace(".", "__")


def bad_cases() -> list[Case]:
    out: list[Case] = []
    add = out.append
    # The file: strict types, finite and bounded numbers.
    for path in FLOATS + INTS:
        for i, literal in enumerate(BAD_TOML_NUMBERS + (BAD_TOML_INTS if path in INTS else [])):
            add(Case(f"file number {path} #{i}", with_value(path, literal), field=path))
        low, high = BOUNDS[path]
        add(Case(f"file {path} too small", with_value(path, low), field=path))
        add(Case(f"file {path} too large", with_value(path, high), field=path))
    for i, (literal, secret) in enumerate(BAD_DATABASE_URLS):
        add(Case(f"file database_url #{i}", with_value("database_url", literal), field="database_url", secret=secret))
    for i, literal in enumerate(BAD_VAR_DIRS):
        add(Case(f"file var_dir #{i}", with_value("var_dir", literal), field="var_dir"))
    # Across fields.
    add(Case("renew = ttl", with_value("lease_renew_s", "15"), field="lease_renew_s", fragment="shorter than"))
    add(Case("renew > ttl", with_value("lease_renew_s", "20.5"), field="lease_renew_s", fragment="shorter than"))
    for days in ("29", "1", "29.99"):
        add(
            Case(
                f"aggregates {days} < raw",
                with_value("retention.aggregate_days", days),
                field="retention.aggregate_days",
                fragment="raw_days",
            )
        )
    # Unknown keys, named.
    for key in ("colour", "lease_ttl", "database", "PDM_LEASE_TTL_S", "retention_days"):
        add(Case(f"unknown key {key}", settings_text(top={**TOP, key: "1"}).encode(), field=key, fragment="unknown"))
    for key in ("colour", "raw_day", "lease_ttl_s"):
        content = settings_text(retention={**RETENTION, key: "1"}).encode()
        add(Case(f"unknown retention key {key}", content, field=f"retention.{key}", fragment="unknown"))
    add(Case("unknown table", settings_text(extra="[colour]\nred = 1\n").encode(), field="colour"))
    add(Case("unknown nested", settings_text(extra="[retention.more]\nx = 1\n").encode(), field="retention.more"))
    add(
        Case(
            "unknown key with a URL",
            settings_text(top={**TOP, "webhook": f'"https://hooks.example/{SECRET}"'}).encode(),
            field="webhook",
            secret=SECRET,
        )
    )
    add(
        Case(
            "unknown key, password",
            settings_text(top={**TOP, "db_password": f'"{SECRET}"'}).encode(),
            field="db_password",
            secret=SECRET,
        )
    )
    for i, literal in enumerate(["5", '"x"', "[]", "true"]):
        top = {**TOP, "retention": literal}
        add(Case(f"retention not a table #{i}", settings_text(top=top, tables=False).encode(), field="retention"))
    add(
        Case(
            "retention array of tables",
            settings_text(tables=False, extra="[[retention]]\nraw_days = 30\n").encode(),
            field="retention",
        )
    )
    # TOML syntax: one line naming the line.
    base_lines = settings_text().splitlines(keepends=True)
    syntax = {
        "lease_ttl_s = ": "no value",
        'database_url = "sqlite:///x': "unterminated",
        "streamlit_port = 80 80": "two values",
        "[retention": "table",
        "lease_ttl_s = 15\nlease_ttl_s = 16": "twice",
        "= 5": "no key",
        "spool_max_bytes = 1__0": "digits",
        "var_dir = 'a\nb'": "literal line break",
        "lease_ttl_s = 1.": "float",
        "x = {a = 1": "inline table",
    }
    for line, what in syntax.items():
        for at in (0, 3, len(base_lines)):
            text = "".join(base_lines[:at]) + line + "\n" + "".join(base_lines[at:])
            expected = at + 1 + (1 if what == "twice" else 0)
            if what == "unterminated" and at == len(base_lines):
                expected = at + 1
            add(Case(f"syntax {what} at {at}", text.encode(), field=f"line {expected}", fragment="invalid TOML"))
    add(Case("[retention] twice", settings_text(extra="[retention]\nraw_days = 31\n").encode(), fragment="twice"))
    # Bytes that are not UTF-8 text.
    text = settings_text() + "# réglages\n"
    for name, raw in [
        ("latin-1", text.encode("latin-1")),
        ("cp1252", text.encode("cp1252")),
        ("utf-16 without BOM", text.encode("utf-16-le")),
        ("gzip", gzip.compress(text.encode())),
        ("NUL", text.encode().replace(b"var_dir", b"var\x00dir")),
        ("png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ("too large", b"# " + b"x" * (5 * 1024 * 1024) + b"\n"),
    ]:
        add(Case(f"bytes {name}", raw, field="(file)"))
    rng = random.Random(7)
    for i in range(5):
        add(Case(f"random bytes #{i}", bytes(rng.randrange(256) for _ in range(500)) + b"\xff", field="(file)"))
    # Variables: text parsed strictly, bounds and rules as in the file, the variable named.
    for path in FLOATS + INTS:
        key = env_name(path)
        for i, value in enumerate(BAD_ENV_NUMBERS + (BAD_ENV_INTS if path in INTS else [])):
            add(Case(f"env {key} #{i}", None, {key: value}, field=path, source=f"${key}"))
        low, high = BOUNDS[path]
        add(Case(f"env {key} too small", None, {key: low}, field=path, source=f"${key}"))
        add(Case(f"env {key} too large", None, {key: high}, field=path, source=f"${key}"))
        add(Case(f"env {key} over a good file", settings_text().encode(), {key: "30s"}, field=path, source=f"${key}"))
    for i, (literal, secret) in enumerate(BAD_DATABASE_URLS[:12]):
        value = literal.strip('"').replace("\\n", "\n")
        add(
            Case(
                f"env database_url #{i}",
                None,
                {"PDM_DATABASE_URL": value},
                field="database_url",
                source="$PDM_DATABASE_URL",
                secret=secret,
            )
        )
    for i, value in enumerate(["", " ", "a\nb"]):
        add(Case(f"env var_dir #{i}", None, {"PDM_VAR_DIR": value}, field="var_dir", source="$PDM_VAR_DIR"))
    add(
        Case(
            "env renew > ttl",
            None,
            {"PDM_LEASE_TTL_S": "15", "PDM_LEASE_RENEW_S": "20"},
            field="lease_renew_s",
            source="$PDM_LEASE_RENEW_S",
            fragment="lease_renew_s = '20'",
        )
    )
    add(
        Case(
            "env renew > file ttl",
            with_value("lease_ttl_s", "3"),
            {"PDM_LEASE_RENEW_S": "4"},
            field="lease_renew_s",
            source="$PDM_LEASE_RENEW_S",
        )
    )
    add(
        Case(
            "env aggregates < file raw",
            with_value("retention.raw_days", "60"),
            {"PDM_RETENTION__AGGREGATE_DAYS": "30"},
            field="retention.aggregate_days",
            source="$PDM_RETENTION__AGGREGATE_DAYS",
        )
    )
    for key, (loc, meant) in NEAR_MISSES.items():
        value = SECRET if "KEY" in key.upper() else "30"
        add(
            Case(
                f"env near miss {key}",
                None,
                {key: value, **FOREIGN_ENV},
                field=loc,
                source=f"${key}",
                fragment=f"${meant}" if meant else "unknown setting",
                secret=SECRET,
            )
        )
    add(
        Case(
            "env near miss with a password URL",
            None,
            {"PDM_DATABASE_URI": f"postgresql://pdm:{SECRET}@h/pdm"},
            field="database_uri",
            source="$PDM_DATABASE_URI",
            secret=SECRET,
        )
    )
    # A file value that a variable replaces must still be valid: the variable does not hide it.
    for path, literal in [
        ("lease_ttl_s", '"x"'),
        ("streamlit_port", "true"),
        ("retention.raw_days", "inf"),
        ("database_url", f'"postgresql://pdm:{SECRET}@h:0/pdm"'),
        ("var_dir", '""'),
    ]:
        good = {"database_url": "sqlite:///x.db", "var_dir": "v", "streamlit_port": "80"}.get(path, "30")
        add(
            Case(
                f"bad file {path} under a variable",
                with_value(path, literal),
                {env_name(path): good},
                field=path,
                secret=SECRET,
            )
        )
    return out


def good_cases() -> list[tuple[str, bytes | None, dict[str, str]]]:
    cases: list[tuple[str, bytes | None, dict[str, str]]] = [
        ("no file, no variables", None, {}),
        ("base", settings_text().encode(), {}),
        ("empty file", b"", {}),
        ("comments only", b"# nothing set\n", {}),
        ("utf-8 BOM", b"\xef\xbb\xbf" + settings_text().encode(), {}),
        ("CRLF", settings_text().replace("\n", "\r\n").encode(), {}),
        ("hex port", with_value("streamlit_port", "0x1F91"), {}),
        ("underscored int", with_value("spool_max_bytes", "268_435_456"), {}),
        ("float as int", with_value("lease_ttl_s", "15"), {}),
        ("exponent", with_value("retention.interval_s", "3.6e3"), {}),
        ("var_dir with spaces", with_value("var_dir", '"my var"'), {}),
        (
            "bounds low",
            settings_text(
                top={
                    **TOP,
                    "lease_ttl_s": "1",
                    "lease_renew_s": "0.01",
                    "leader_retry_s": "0.01",
                    "spool_max_bytes": "1024",
                    "streamlit_port": "1",
                }
            ).encode(),
            {},
        ),
        ("foreign variables", None, FOREIGN_ENV),
        (
            "every number as a variable",
            None,
            {
                env_name(p): v
                for p, v in [
                    *zip(FLOATS, ["15", "0.5", "1e1", "30.5", "3600"]),
                    *zip(INTS, ["1024", "+8502", "100", "60"]),
                ]
            },
        ),
        ("variables over a file", settings_text().encode(), {"PDM_LEASE_TTL_S": "20", "PDM_VAR_DIR": "/srv/pdm var"}),
    ]
    for url in [
        "sqlite:///var/pdm.sqlite3",
        "sqlite:////srv/pdm/pdm.sqlite3",
        "sqlite:///a@b.db",
        "sqlite://",
        "postgresql://pdm@db.example:5432/pdm",
        f"postgresql+psycopg://pdm:{SECRET}@db.example/pdm",
        "postgres://db.example/pdm",
        "postgresql:///pdm?host=/var/run/postgresql",
        "postgresql://pdm@[::1]:5432/pdm",
    ]:
        cases.append((f"database {url}", with_value("database_url", f'"{url}"'), {}))
        cases.append((f"env database {url}", None, {"PDM_DATABASE_URL": url}))
    cases += [(f"example {p.name}", p.read_bytes(), {}) for p in EXAMPLES]
    return cases


def check(path: Path, case: Case) -> str | None:
    """None when ``case`` is refused as it should be, else what went wrong."""
    try:
        load_settings(path if case.content is not None else None, env=case.env)
    except ConfigError as exc:
        source = case.source or (str(path) if case.content is not None else "<settings>")
        return refusal_problem(exc, source, case, max_chars=400)
    except Exception as exc:
        return f"TRACEBACK {type(exc).__name__}: {exc}"[:300]
    return "ACCEPTED"


@pytest.mark.timeout(60)
def test_every_bad_settings_file_or_variable_is_refused_in_one_clear_line(tmp_path):
    cases = bad_cases()
    assert len(cases) >= 200
    assert len({c.name for c in cases}) == len(cases)
    path = tmp_path / "settings.toml"
    failures = []
    start = time.perf_counter()
    for case in cases:
        if case.content is not None:
            path.write_bytes(case.content)
        problem = check(path, case)
        if problem:
            failures.append(f"{case.name}: {problem}")
        path.unlink(missing_ok=True)
    elapsed = time.perf_counter() - start
    kinds = {k: sum(f.split(": ", 1)[1].startswith(k) for f in failures) for k in ("TRACEBACK", "ACCEPTED")}
    print(
        f"\n{len(cases)} bad settings: {len(cases) - len(failures)} clear one-line errors, "
        f"{kinds['TRACEBACK']} tracebacks, {kinds['ACCEPTED']} wrongly accepted, "
        f"{len(failures) - sum(kinds.values())} unclear; {elapsed:.1f} s"
    )
    assert not failures, f"{len(failures)} of {len(cases)} failed:\n" + "\n".join(failures[:40])


@pytest.mark.parametrize("name, content, env", good_cases(), ids=[c[0] for c in good_cases()])
def test_valid_settings_are_accepted(tmp_path, name, content, env):
    path = tmp_path / "settings.toml"
    if content is not None:
        path.write_bytes(content)
    assert isinstance(load_settings(path if content is not None else None, env=env), Settings)


def test_variables_win_and_keep_their_type():
    s = load_settings(env={"PDM_LEASE_TTL_S": "20", "PDM_STREAMLIT_PORT": "8502", "PDM_RETENTION__RAW_DAYS": "7"})
    assert (s.lease_ttl_s, s.streamlit_port, s.retention.raw_days) == (20.0, 8502, 7.0)
    assert type(s.streamlit_port) is int and type(s.lease_ttl_s) is float


def test_the_other_service_variables_are_those_pdm_access_reads():
    assert set(OTHER_ENV) == {crypto.KEY_ENV, users.SECRET_ENV}


def test_the_defaults_are_valid_settings():
    assert Settings.model_validate(Settings().model_dump()) == Settings()
