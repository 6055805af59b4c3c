"""A corpus of bad plant files, generated from one valid base by a table of mutations.

Each ``Case`` is the bytes of a file and what its error must say: the exact field path
(``field``) or a fragment of the one-line message (``fragment``), and, for a secret, a text that
must not appear in it (``secret``). ``bad_cases()`` yields them all; ``good_cases()`` yields
variants that must still load (IPv6, byte-order marks, other node id kinds, edge values).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from tests.helpers.plant_base import (
    A0,
    B0,
    BASE,
    C0,
    C1,
    DET,
    E0,
    E1,
    E2,
    S0,
    S1,
    SIM,
    SMTP,
    Case,
    dump,
    mutated,
    path_text,
    removed,
)
from tests.helpers.plant_files import document_cases, line_cases
from tests.helpers.plant_files import good_cases as _text_good_cases

__all__ = ["bad_cases", "good_cases"]


# Every number of the base, with the kind of number it is.
FLOATS = [
    (*A0, "downtime_cost_per_hour"),
    (*A0, "silent_period_min"),
    (*A0, "costs", "planned_repair_cost"),
    (*A0, "costs", "unplanned_downtime_h", "bearing_wear"),
    (*A0, "detection", "false_alerts_per_month"),
    *[(*E0, f) for f in ("poll_interval_s", "sampling_interval_s", "publishing_interval_s", "deadband")],
    *[(*E0, f) for f in ("connect_timeout_s", "request_timeout_s", "reconnect_max_delay_s")],
    (*E2, "poll_interval_s"),
    (*SMTP, "timeout_s"),
    (*C0, "notifications", "webhooks", 0, "timeout_s"),
    *[(*SIM, f) for f in ("speed", "tick_s")],
    *[(*SIM, "faults", 0, f) for f in ("start_min", "end_min")],
    *[(*DET, f) for f in ("train_min_span_min", "retrain_after_h", "holdout_fraction", "false_alerts_per_month")],
    *[(*DET, f) for f in ("score_interval_s", "train_interval_s", "silent_period_min")],
    (*DET, "fleet", "baseline_min"),
    (*DET, "fleet", "retrain_interval_s"),
    (*DET, "classes", "cnc_spindle", "silent_period_min"),
    *[("cost_defaults", "centrifugal_pump", f) for f in ("downtime_cost_per_hour", "emergency_repair_cost")],
    ("cost_defaults", "centrifugal_pump", "unplanned_downtime_h", "cavitation"),
    ("cost_defaults", "centrifugal_pump", "default_downtime_h"),
]
INTS = [
    (*A0, "criticality"),
    (*A0, "detection", "debounce_rows"),
    (*E0, "queue_size"),
    (*E0, "max_nodes_per_read"),
    (*SMTP, "port"),
    (*SIM, "seed"),
    *[(*DET, f) for f in ("train_min_rows", "train_max_rows", "smooth_rows", "debounce_rows", "max_workers")],
    (*DET, "return_to_normal_rows"),
    (*A0, "detection", "return_to_normal_rows"),
    (*DET, "fleet", "min_companies"),
    (*DET, "fleet", "min_assets"),
    (*DET, "classes", "cnc_spindle", "smooth_rows"),
]
BAD_NUMBERS = [
    True,
    False,
    "fast",
    "1:30",
    "5",
    float("inf"),
    float("-inf"),
    float("nan"),
    1e308,
    -1e308,
    10**30,
    -1,
    [],
    {},
    {"value": 1},
]
BOOLS = [(*E0, "enabled"), (*E0, "trust_server_certificate"), (*DET, "fleet", "enabled")]
BAD_BOOLS = ["yes", "no", "on", "true", 1, 0, None, [], 1.0]
NODE_POSITIONS = (
    [(*E0, "nodes", i, "node_id") for i in range(5)]
    + [(*E1, "nodes", i, "node_id") for i in range(2)]
    + [(*E2, "nodes", i, "node_id") for i in range(2)]
)
BAD_NODE_IDS = [
    "garbage",
    "i=abc",
    "ns=abc;s=x",
    "ns=2;s=",
    "nsu=urn:x",
    "",
    "i=",
    "i=-1",
    "i=4294967296",
    "ns=70000;i=1",
    "ns=-1;i=1",
    "srv=1;ns=1;i=1",
    "x=1;i=5",
    "i=1;i=2",
    "ns=1;nsu=urn:a;i=1",
    "nsu=;s=a",
    "ns=1;g=zz",
    "ns=1;g=",
    "ns=1;b=!!!",
    "ns=2;s=   ",
    "s",
    "ns=2",
    "=5",
    "i=" + "9" * 5000,
    5,
    True,
    None,
]
SLUGS = [
    (*C0, "id"),
    (*S0, "id"),
    (*A0, "id"),
    (*A0, "asset_class"),
    (*E0, "name"),
    (*E0, "nodes", 0, "tag"),
    (*E0, "nodes", 0, "asset"),
    (*SIM, "faults", 0, "company"),
    (*SIM, "faults", 0, "asset"),
]
BAD_SLUGS = ["has space", "", "-leading", "x" * 65, 5, True, None, ["a"], "é"]
BAD_URLS = [
    "opc.tcp://127.0.0.1:0/x",
    "opc.tcp://127.0.0.1:99999/x",
    "opc.tcp://127.0.0.1:65536",
    "opc.tcp://[::g]:4840",
    "opc.tcp://[::1:4840",
    "opc.tcp://::1:4840",
    "http://127.0.0.1:4840",
    "opc.tcp://",
    "opc.tcp://h:-1",
    "opc.tcp://h:abc",
    "opc.tcp://h st:4840",
    "opc.tcp://user:pw@h:4840",
    "opc.tcp://h:4840/" + "x" * 3000,
    4840,
]
# Webhook URLs carry their secret in the path or query (Slack, Teams, ntfy): TOKEN must never be echoed.
TOKEN = "T0K3Nsecret"
BAD_WEBHOOKS = [
    f"https://hooks.example:0/services/{TOKEN}",
    f"https://hooks.example:70000/services/{TOKEN}",
    f"https://hooks.example:abc/{TOKEN}",
    f"ftp://hooks.example/{TOKEN}",
    f"mailto:{TOKEN}@example.com",
    "https://",
    f"https:///{TOKEN}",
    f"https://:443/{TOKEN}",
    f"hooks.slack.com/services/{TOKEN}",
    f"//hooks.example/{TOKEN}",
    f"https://hooks.example/{TOKEN} x",
    f"https://hooks.example/x?token={TOKEN}\n",
    f"https://[::1/{TOKEN}",
    f"https://[zz]/{TOKEN}",
    f"https://a..b/{TOKEN}",
    f"https://-bad.example/{TOKEN}",
    f"https://hooks.example/{TOKEN}" + "x" * 2100,
    f"https://bot:{TOKEN}@hooks.example:0/x",
    f"https://bot:{TOKEN}@/x",
    f"https://ntfy.example:99999/alerts?auth={TOKEN}",
    "",
    5,
    True,
    None,
    [f"https://hooks.example/{TOKEN}"],
    {"url": f"https://hooks.example/{TOKEN}"},
]
SECRETS = ["Tr0ub4dor&3", "hunter2Secret9", "aB3xYz9QwErTy", "p@ssw0rd!", "correct horse battery", "Z" * 50, "ç2ñ"]
LITERALS = [
    ((*E0, "mode"), "push"),
    ((*E0, "security_policy"), "Basic128"),
    ((*E0, "timestamp_source"), "now"),
    ((*SMTP, "tls"), "tls1.3"),
    ((*C0, "notifications", "email", 0, "min_severity"), "urgent"),
    ((*SIM, "faults", 0, "kind"), "rust"),
    ((*DET, "executor"), "threads"),
    ((*DET, "fleet", "detector"), "mset"),
]
UNKNOWN_AT = [
    (),
    C0,
    S0,
    A0,
    E0,
    (*E0, "nodes", 0),
    SMTP,
    SIM,
    DET,
    (*DET, "fleet"),
    (*A0, "costs"),
    (*A0, "detection"),
]


def _data_cases() -> Iterator[Case]:
    for path in FLOATS + INTS:
        for i, value in enumerate(BAD_NUMBERS):
            yield Case(f"number {path_text(path)} #{i}", dump(mutated(path, value)), field=path_text(path))
    for path in [(*E0, "poll_interval_s"), (*SIM, "seed"), (*A0, "downtime_cost_per_hour"), (*DET, "train_min_rows")]:
        yield Case(f"null {path_text(path)}", dump(mutated(path, None)), field=path_text(path))  # not optional fields
    for path in INTS:
        yield Case(f"integer as float {path_text(path)}", dump(mutated(path, 3.5)), field=path_text(path))
    for path in [(*E0, "poll_interval_s"), (*E0, "publishing_interval_s"), (*E0, "connect_timeout_s")]:
        for value in (0, 0.001, 0.0099, 86_401):
            yield Case(f"interval {path_text(path)}={value}", dump(mutated(path, value)), field=path_text(path))
    for value in (0.001, 1e-9, -0.5):
        path = (*E0, "sampling_interval_s")
        yield Case(f"sampling {value}", dump(mutated(path, value)), field=path_text(path))
    for value in (-1, 2**32, 2**64, 1.5, "7"):
        yield Case(f"seed {value}", dump(mutated((*SIM, "seed"), value)), field="simulation.seed")
    for path in BOOLS:
        for i, value in enumerate(BAD_BOOLS):
            yield Case(f"bool {path_text(path)} #{i}", dump(mutated(path, value)), field=path_text(path))
    for path in NODE_POSITIONS:
        for i, value in enumerate(BAD_NODE_IDS):
            yield Case(f"node id {path_text(path)} #{i}", dump(mutated(path, value)), field=path_text(path))
    for path in SLUGS:
        for i, value in enumerate(BAD_SLUGS):
            yield Case(f"slug {path_text(path)} #{i}", dump(mutated(path, value)), field=path_text(path))
    for path in [(*E0, "endpoint_url"), (*E1, "endpoint_url"), (*E2, "endpoint_url")]:
        for i, value in enumerate(BAD_URLS):
            yield Case(f"url {path_text(path)} #{i}", dump(mutated(path, value)), field=path_text(path))
    yield from _webhook_cases()
    for path in [(*E0, "password_env"), (*SMTP, "password_env")]:
        for i, value in enumerate(SECRETS):
            yield Case(
                f"secret {path_text(path)} #{i}", dump(mutated(path, value)), field=path_text(path), secret=value
            )
    for path in [(*E0, "client_private_key"), (*E0, "password_encrypted")]:
        pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
        yield Case(f"pem in {path[-1]}", dump(mutated(path, pem)), field=path_text(path), secret="MIIEvQ")
    yield Case(
        "password in clear",
        dump(mutated((*E0, "password"), "Hunter2!")),
        secret="Hunter2!",
        field=path_text((*E0, "password")),
    )
    for path, value in LITERALS:
        yield Case(f"literal {path_text(path)}", dump(mutated(path, value)), field=path_text(path))
    for i, at in enumerate(UNKNOWN_AT):
        yield Case(f"unknown field #{i}", dump(mutated((*at, "colour"), "red")), field=path_text((*at, "colour")))
    for name in ["nope", "PCA", "fleet:pump", "", "auto "]:
        for path in [(*DET, "detector"), (*A0, "detection", "detector"), (*DET, "classes", "cnc_spindle", "detector")]:
            yield Case(f"detector {name!r} at {path_text(path)}", dump(mutated(path, name)), field=path_text(path))
    for path in [(*A0, "name"), (*C0, "name"), (*E0, "nodes", 0, "unit"), (*E0, "username")]:
        yield Case(f"long text {path_text(path)}", dump(mutated(path, "é" * 10_000)), field=path_text(path))
    yield from _cross_field_cases()


def _webhook_cases() -> Iterator[Case]:
    hook = (*C0, "notifications", "webhooks", 0)
    for i, value in enumerate(BAD_WEBHOOKS):
        path = (*hook, "url")
        yield Case(f"webhook #{i}", dump(mutated(path, value)), field=path_text(path), secret=TOKEN)
    url = f"https://hooks.slack.com/services/T00/B00/{TOKEN}"
    for i, value in enumerate([url, [url], {"url": url}, f"bot:{TOKEN}@hooks.example"]):
        for path in [(*C0, "notifications", "slack"), (*hook, "href"), (*hook, "headers")]:
            yield Case(
                f"unknown {path_text(path)} #{i}", dump(mutated(path, value)), field=path_text(path), secret=TOKEN
            )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    yield Case(
        "webhook headers", dump(mutated((*hook, "headers"), headers)), field=path_text((*hook, "headers")), secret=TOKEN
    )
    for path in [(*C0, "notifications", "webhooks"), hook]:  # a URL where a list or a route belongs
        yield Case(f"webhook as text {path_text(path)}", dump(mutated(path, url)), field=path_text(path), secret=TOKEN)
    # The same URL twice in one company: the catalog keeps one channel, so one route's severity would be lost.
    routes = (*C0, "notifications", "webhooks")
    secret_url = f"https://hooks.example/services/{TOKEN}"
    twice = [{"url": secret_url, "min_severity": "low"}, {"url": secret_url, "min_severity": "critical"}]
    yield Case(
        "duplicate webhook",
        dump(mutated(routes, twice)),
        field=path_text((*routes, 1, "url")),
        fragment=f"also at {path_text((*routes, 0, 'url'))}",
        secret=TOKEN,
    )
    emails = (*C0, "notifications", "email")
    for to in (["maint@acme.example"], ["b@acme.example", "maint@acme.example"]):
        pair = [{"to": ["maint@acme.example", "b@acme.example"][: len(to)]}, {"to": to, "min_severity": "low"}]
        yield Case(
            f"duplicate e-mail route {len(to)}",
            dump(mutated(emails, pair)),
            field=path_text((*emails, 1, "to")),
            fragment=f"also at {path_text((*emails, 0, 'to'))}",
        )
    # An OPC UA endpoint URL with a password in it is refused without echoing the password.
    for value in ("opc.tcp://reader:Tr0ub4dor@127.0.0.1:4840/x", "opc.tcp://reader:Tr0/ub4dor@h:0"):
        path = (*E0, "endpoint_url")
        yield Case(f"url with userinfo {value[-6:]}", dump(mutated(path, value)), field=path_text(path), secret="Tr0")


def _cross_field_cases() -> Iterator[Case]:
    def two(path_a, a, path_b, b):
        return dump(mutated(path_b, b, mutated(path_a, a)))

    for lo, hi in [(500, 100), (2001, 2000), (10_000_000, 10)]:
        content = two((*DET, "train_min_rows"), lo, (*DET, "train_max_rows"), hi)
        yield Case(f"train rows {lo}>{hi}", content, field="detection.train_max_rows")
    for companies, assets in [(3, 2), (10, 5), (1000, 999)]:
        content = two((*DET, "fleet", "min_companies"), companies, (*DET, "fleet", "min_assets"), assets)
        yield Case(f"fleet {companies}>{assets}", content, field="detection.fleet.min_assets")
    for start, end in [(50, 50), (100, 10)]:
        content = two((*SIM, "faults", 0, "start_min"), start, (*SIM, "faults", 0, "end_min"), end)
        yield Case(f"fault {start}>{end}", content, field="simulation.faults[0].end_min")
    dup = [
        ((*C1, "id"), "acme", "companies[1].id", "companies[0].id"),
        ((*S1, "id"), "north", path_text((*S1, "id")), path_text((*S0, "id"))),
        ((*S1, "assets", 0, "id"), "P-1", path_text((*S1, "assets", 0, "id")), path_text((*A0, "id"))),
        ((*S0, "assets", 1, "id"), "P-1", path_text((*S0, "assets", 1, "id")), path_text((*A0, "id"))),
        ((*E1, "name"), "north-plc", path_text((*E1, "name")), path_text((*E0, "name"))),
        ((*E1, "endpoint_url"), BASE["companies"][0]["sites"][0]["endpoints"][0]["endpoint_url"], None, None),
        ((*E0, "nodes", 1, "tag"), "flow", path_text((*E0, "nodes", 1, "tag")), path_text((*E0, "nodes", 0, "tag"))),
        ((*E0, "nodes", 4, "tag"), "flow", path_text((*E0, "nodes", 4, "tag")), path_text((*E0, "nodes", 3, "tag"))),
    ]
    for path, value, field, first in dup:
        yield Case(
            f"duplicate {path_text(path)}", dump(mutated(path, value)), field=field or path_text(path), fragment=first
        )
    rules = [
        (mutated((*E0, "security_mode"), "Sign"), path_text((*E0, "security_mode"))),
        (removed((*E0, "username")), path_text((*E0, "username"))),
        (removed((*E0, "password_env")), path_text((*E0, "password_env"))),
        (mutated((*E0, "password_encrypted"), "gAAAAA" + "x" * 40), path_text((*E0, "password_env"))),
        (mutated((*E0, "user_certificate"), "user.der"), path_text((*E0, "user_private_key"))),
        (mutated((*E0, "auth_method"), "certificate"), path_text((*E0, "auth_method"))),
        (mutated((*DET, "executor"), "dask"), "detection.dask_scheduler"),
        (removed(SMTP), path_text((*C0, "notifications"))),
        (mutated((*SIM, "faults", 0, "asset"), "P-404"), "simulation.faults[0].asset"),
        (mutated((*E0, "nodes", 0, "asset"), "C-1"), path_text((*E0, "nodes", 0, "asset"))),
        (mutated((*SIM, "start"), 0), "simulation.start"),
        (mutated((*SIM, "start"), "9999-01-01T00:00:00"), "simulation.start"),
        (mutated((*SIM, "start"), True), "simulation.start"),
        (removed(("companies",)), "companies"),
    ]
    for i, (data, field) in enumerate(rules):
        yield Case(f"rule #{i}", dump(data), field=field)
    yield from _two_endpoint_cases()


def _with_endpoint(site: tuple, endpoint: dict, at: int | None = None, base: dict | None = None) -> dict:
    """The base (or ``base``) with ``endpoint`` added to ``site``'s endpoints, last or at index ``at``."""
    data = copy.deepcopy(base or BASE)
    endpoints = _at(data, site)["endpoints"]
    endpoints.insert(len(endpoints) if at is None else at, copy.deepcopy(endpoint))
    return data


def _two_endpoint_cases() -> Iterator[Case]:
    """Every tag of the base mapped again from a second endpoint of its site (after the first or
    before it, by the same node id or another, enabled or not): refused naming both places."""
    sites = [(S0, "acme/north", "north-plc"), (S1, "acme/south", "south-plc"), (B0, "beta/main", "beta-plc")]
    for site, label, first_name in sites:
        first = _at(BASE, site)["endpoints"][0]
        for ni, node in enumerate(first["nodes"]):
            for same_id in (True, False):
                node_id = node["node_id"] if same_id else f"ns=3;s=scada.{node['asset']}.{node['tag']}"
                scada = {
                    "name": "scada",
                    "endpoint_url": f"opc.tcp://scada-{label.replace('/', '-')}.example:4840",
                    "nodes": [{**node, "node_id": node_id}],
                }
                fragment = f"{label}/{node['asset']}/{node['tag']} is mapped on two endpoints of this site"
                name = f"tag on two endpoints {label}/{node['asset']}/{node['tag']} same_id={same_id}"
                yield Case(
                    f"{name} after",
                    dump(_with_endpoint(site, scada)),
                    field=path_text((*site, "endpoints", 1, "nodes", 0, "tag")),
                    fragment=f"{fragment}, {first_name} and scada",
                )
                yield Case(
                    f"{name} before",
                    dump(_with_endpoint(site, scada, at=0)),
                    field=path_text((*site, "endpoints", 1, "nodes", ni, "tag")),
                    fragment=f"{fragment}, scada and {first_name}",
                )
                yield Case(
                    f"{name} disabled",
                    dump(_with_endpoint(site, {**scada, "enabled": False})),
                    field=path_text((*site, "endpoints", 1, "nodes", 0, "tag")),
                    fragment=f"{fragment}, {first_name} and scada",
                )
    # A third endpoint repeating the first one's tag, the second mapping other tags.
    other = {"name": "hmi", "endpoint_url": "opc.tcp://hmi.example:4840", "nodes": [_motor_current("P-1")]}
    again = {
        "name": "scada",
        "endpoint_url": "opc.tcp://scada.example:4840",
        "nodes": [
            _motor_current("P-2"),
            {**_at(BASE, (*E0, "nodes", 1)), "node_id": "ns=3;s=P-1.vibration"},
        ],
    }
    yield Case(
        "tag on the first and third endpoints",
        dump(_with_endpoint(S0, again, base=_with_endpoint(S0, other))),
        field=path_text((*S0, "endpoints", 2, "nodes", 1, "tag")),
        fragment="acme/north/P-1/vibration is mapped on two endpoints of this site, north-plc and scada",
    )


def _at(data: dict, path: tuple):
    for part in path:
        data = data[part]
    return data


def _motor_current(asset: str) -> dict:
    """A node the base does not map: a second endpoint may read it."""
    return {"node_id": f"ns=3;s={asset}.motor_current", "tag": "motor_current", "asset": asset}


def _good_two_endpoint_cases() -> Iterator[tuple[str, bytes]]:
    """A site with a second endpoint reading tags the first does not: accepted."""
    scada = {"name": "scada", "endpoint_url": "opc.tcp://scada.example:4840", "nodes": [_motor_current("P-1")]}
    yield "second endpoint, other tag", dump(_with_endpoint(S0, scada))
    both = {**scada, "nodes": [_motor_current("P-1"), _motor_current("P-2")]}
    yield "second endpoint first, other tags", dump(_with_endpoint(S0, both, at=0))


GOOD_WEBHOOKS = [
    "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "https://ntfy.example/pdm-alerts?auth=abc",
    "http://10.0.0.9:8080/hook",
    "https://[2001:db8::1]:8443/hook",
    "HTTPS://Hooks.Example/x",
    "https://bot:s3cret@hooks.example/x",
    "http://alert_relay:9000",
    "https://hooks.example.",
]


def good_cases() -> Iterator[tuple[str, bytes]]:
    yield from _text_good_cases()
    yield from _good_two_endpoint_cases()
    for i, url in enumerate(GOOD_WEBHOOKS):
        yield f"webhook #{i}", dump(mutated((*C0, "notifications", "webhooks", 0, "url"), url))
    routes = [{"url": GOOD_WEBHOOKS[0]}, {"url": GOOD_WEBHOOKS[1], "min_severity": "critical"}]
    yield "two webhooks", dump(mutated((*C0, "notifications", "webhooks"), routes))


def bad_cases() -> list[Case]:
    return [*_data_cases(), *line_cases(), *document_cases()]
