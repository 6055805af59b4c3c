"""The corpus's text-level bad files (repeated keys, sexagesimal numbers, tags, aliases, nesting,
encodings, sizes) and the valid variants that must still load."""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator

from tests.helpers.plant_base import BASE_TEXT, DET, E0, E1, SIM, Case, dump, mutated

SYNTAX = [
    "companies:\n\t- id: a\n",
    "companies: [\n",
    "companies:\n  - id: a\n   name: [x\n",
    "---\ncompanies: []\n---\ncompanies: []\n",
    "companies: '\x01'\n",
    'companies: "\\q"\n',
    "? [a]\n: 1\n",
    "{a: 1, a: 2}\n",
    "companies: []\nsimulation: {seed: 1, seed: 2}\n",
]
GOOD_NODE_IDS = [
    "i=85",
    "ns=1;g=09087e75-8e5e-499b-954f-f2a9603db28a",
    "ns=1;b=aGVsbG8=",
    "ns=2;s=a;b=c",
    "ns=65535;i=4294967295",
    "s=x",
    "nsu=urn:a:b;i=5",
]
SEXAGESIMAL = ["1:30", "1:30:00", "190:20:30", "-1:30", "0:01"]


def line_cases() -> Iterator[Case]:
    lines = BASE_TEXT.splitlines(keepends=True)
    # every block-mapping key written twice: "duplicate key"
    for i, line in enumerate(lines):
        stripped = line.lstrip(" ")
        if stripped.startswith("- ") or ":" not in stripped:
            continue
        yield Case(
            f"duplicate key line {i + 1}",
            "".join(lines[: i + 1] + [line] + lines[i + 1 :]).encode(),
            fragment="duplicate key",
        )
    numeric = [i for i, line in enumerate(lines) if line.rstrip().split(": ")[-1].replace(".", "", 1).isdigit()]
    for i in numeric:
        key = lines[i].split(":")[0]
        for j, value in enumerate(SEXAGESIMAL):
            text = "".join(lines[:i] + [f"{key}: {value}\n"] + lines[i + 1 :])
            yield Case(f"sexagesimal line {i + 1} #{j}", text.encode(), fragment=key.strip().lstrip("- "))
    tags = ["!!binary aGVsbG8=", "!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!foo 1",
            "!!str 5", "!!int '5'", "!!float 1", "!<tag:yaml.org,2002:str> x", "! x", "!!timestamp 2024-01-01",
            "!!set {a}", "!!omap [a: 1]", "!!null ''"]  # fmt: skip
    for i in numeric[:6]:
        key = lines[i].split(":")[0]
        for j, value in enumerate(tags):
            text = "".join(lines[:i] + [f"{key}: {value}\n"] + lines[i + 1 :])
            yield Case(f"tag line {i + 1} #{j}", text.encode(), fragment="explicit tags")


def bomb(levels: int = 9) -> bytes:
    out = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    out += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, levels)]
    return ("\n".join(out) + f"\ncompanies: *a{levels - 1}\n").encode()


def document_cases() -> Iterator[Case]:
    yield Case("alias bomb", bomb(), fragment="anchors")
    yield Case(
        "alias bomb at the end", BASE_TEXT.encode() + bomb().replace(b"companies:", b"more:"), fragment="anchors"
    )
    yield Case("alias", BASE_TEXT.replace("seed: 7", "seed: *x").encode(), fragment="aliases")
    yield Case("merge key", b"base: &b {speed: 1}\nsimulation:\n  <<: *b\n" + BASE_TEXT.encode(), fragment="anchors")
    yield Case("anchor", BASE_TEXT.replace("seed: 7", "seed: &s 7").encode(), fragment="anchors")
    for depth in (51, 100, 10_000, 200_000):
        yield Case(f"flow depth {depth}", b"companies: " + b"[" * depth + b"]" * depth + b"\n", fragment="nest")
    deep = "".join(f"{'  ' * n}k{n}:\n" for n in range(60)) + "  " * 60 + "x: 1\n"
    yield Case("block depth 60", ("companies: []\n" + deep).encode(), fragment="nest")
    for digits in (41, 100, 5000, 100_000):
        yield Case(
            f"{digits} digits", BASE_TEXT.replace("seed: 7", "seed: " + "9" * digits).encode(), fragment="digits"
        )
    for i, text in enumerate(SYNTAX):
        yield Case(f"syntax #{i}", text.encode(), fragment="line ")  # every one names its line
    for i, text in enumerate(["", "# nothing\n", "null\n", "- a\n- b\n", "just text\n", "42\n", "[companies]\n"]):
        yield Case(f"root #{i}", text.encode(), field="(root)")
    yield Case("no companies", b"simulation: {seed: 1}\n", field="companies")
    yield Case("companies not a list", b"companies: acme\n", field="companies")
    yield from _encoding_cases()


def _encoding_cases() -> Iterator[Case]:
    text = BASE_TEXT
    assert "é" in text  # the base's company name: a Latin-1 file is then not UTF-8
    yield Case("latin-1", text.encode("latin-1"), fragment="not UTF-8 text")
    yield Case("cp1252", text.encode("cp1252"), fragment="not UTF-8 text")
    yield Case("utf-16 without BOM", text.encode("utf-16-le"), fragment="not UTF-8 text")
    yield Case("utf-16-be without BOM", text.encode("utf-16-be"), fragment="not UTF-8 text")
    yield Case("utf-32 without BOM", text.encode("utf-32-le"), fragment="not UTF-8 text")
    yield Case("gzip", gzip.compress(text.encode()), fragment="gzip")
    yield Case("truncated utf-8", text.encode()[: text.encode().index("é".encode()) + 1], fragment="not UTF-8 text")
    yield Case("utf-16 BOM odd bytes", b"\xff\xfe" + text.encode("utf-16-le") + b"\x00", fragment="not UTF-8 text")
    yield Case("lone surrogate", b"\xff\xfe" + b"\x00\xd8" + "a: 1".encode("utf-16-le"), fragment="not UTF-8 text")
    yield Case("NUL", text.encode().replace(b"seed: 7", b"seed: 7\x00"), fragment="not UTF-8 text")
    yield Case("utf-8 BOM + NUL", b"\xef\xbb\xbf\x00" + text.encode(), fragment="not UTF-8 text")
    rng = random.Random(20)
    for i in range(12):
        yield Case(
            f"random bytes #{i}", bytes(rng.randrange(256) for _ in range(2000)) + b"\xff", fragment="not UTF-8 text"
        )
    yield Case("png", b"\x89PNG\r\n\x1a\n" + bytes(100), fragment="not UTF-8 text")
    yield Case("too large", b"# " + b"x" * (5 * 1024 * 1024) + b"\n", fragment="too large")
    yield Case("too large, utf-16", b"\xff\xfe" + b"#\x00" * (3 * 1024 * 1024), fragment="too large")


def good_cases() -> Iterator[tuple[str, bytes]]:
    yield "base", BASE_TEXT.encode()
    yield "ipv6", dump(mutated((*E0, "endpoint_url"), "opc.tcp://[::1]:4840/x"))
    yield "ipv6 no port", dump(mutated((*E1, "endpoint_url"), "opc.tcp://[fe80::1%eth0]/x"))
    yield "port 65535", dump(mutated((*E1, "endpoint_url"), "opc.tcp://h:65535"))
    yield "utf-8 BOM", b"\xef\xbb\xbf" + BASE_TEXT.encode()
    yield "utf-16-le BOM", BASE_TEXT.encode("utf-16")
    yield "utf-16-be BOM", b"\xfe\xff" + BASE_TEXT.encode("utf-16-be")
    yield "utf-32 BOM", BASE_TEXT.encode("utf-32")
    yield "CRLF", BASE_TEXT.replace("\n", "\r\n").encode()
    yield "sampling 0", dump(mutated((*E0, "sampling_interval_s"), 0))
    yield "seed 0", dump(mutated((*SIM, "seed"), 0))
    yield "seed max", dump(mutated((*SIM, "seed"), 2**32 - 1))
    yield (
        "yaml 1.2 ints",
        BASE_TEXT.replace("seed: 7", "seed: 0o17").replace("queue_size: 10", "queue_size: 0x0a").encode(),
    )
    yield "start date", dump(mutated((*SIM, "start"), "2026-01-05T06:00:00Z"))
    yield "detector auto", dump(mutated((*DET, "detector"), "auto"))
    for i, node_id in enumerate(GOOD_NODE_IDS):
        yield f"node id #{i}", dump(mutated((*E0, "nodes", 0, "node_id"), node_id))
