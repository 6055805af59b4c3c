"""Reading a plant file: bytes → text → YAML → plain data, refusing what could lie or hang.

- **Size**: more than ``MAX_BYTES`` is refused before parsing (5 MB holds some 35,000 node
  mappings and parses in about 4 s; the example file is 17 kB).
- **Encoding**: UTF-8, or UTF-8/UTF-16/UTF-32 with a byte-order mark. Anything else (Latin-1,
  gzip, binary) is "not UTF-8 text", never a guess.
- **Scalars follow YAML 1.2's core schema**, not PyYAML's YAML 1.1: ``1:30`` is the string
  "1:30" (not 90, a sexagesimal number), ``yes``/``on``/``no`` are strings (pydantic then refuses
  them where a boolean is expected), ``2024-01-01`` is a string that the model parses where it
  wants a date. Integers longer than ``MAX_DIGITS`` digits are refused (Python refuses more than
  4,300 with a ValueError, which is not a YAML error).
- **No explicit tags** (``!!binary``, ``!!python/…``, ``!custom``, even ``!!str``): a plant file holds
  plain values only.
- **No anchors or aliases**: no file in ``config/`` uses them, and refusing them at the first
  ``&``/``*`` is what makes an alias bomb ("billion laughs") fail at once instead of expanding.
- **Nesting** deeper than ``MAX_DEPTH`` is refused (the composer is recursive).
- **A key repeated in one mapping** is refused, naming the key and both lines (PyYAML keeps the
  last one silently).

Parsing uses libyaml's event parser when PyYAML has it (about 4× faster) and PyYAML's own
otherwise; composing and constructing are always the Python classes below, so the checks hold
either way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from pdm.errors import ConfigError

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 50
MAX_DIGITS = 40

_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xfe\xff", "utf-16"),
    (b"\xff\xfe", "utf-16"),
)


def decode(raw: bytes, source: str) -> str:
    """The file's text: UTF-8, or UTF-8/16/32 with a byte-order mark; anything else is refused."""
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        what = "gzip-compressed: decompress it first" if raw[:2] == b"\x1f\x8b" else f"{exc.reason} at byte {exc.start}"
        raise ConfigError(source, "(file)", raw[exc.start : exc.start + 8], f"not UTF-8 text ({what})") from None
    if "\x00" in text:
        raise ConfigError(source, "(file)", None, "not UTF-8 text (binary: it contains NUL bytes)")
    return text.removeprefix("\ufeff")


def read_text(path: Path, kind: str = "plant file") -> str:
    """At most ``MAX_BYTES`` of ``path``, decoded; a larger file is refused without reading the rest."""
    source = str(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(source, "(file)", source, exc.strerror or str(exc)) from None
    if len(raw) > MAX_BYTES:
        limit = f"at most {MAX_BYTES // 2**20} MB"
        raise ConfigError(source, "(file)", f"more than {MAX_BYTES} bytes", f"too large for a {kind} ({limit})")
    return decode(raw, source)


class _Core12Resolver(BaseResolver):
    """YAML 1.2 core schema: null, true/false, decimal/0o/0x integers, floats; everything else a string."""

    yaml_implicit_resolvers: dict = {}


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Core12Resolver.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


class _Constructor(SafeConstructor):
    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
        base = 16 if digits.startswith("0x") else 8 if digits.startswith("0o") else 10
        digits = digits[2:] if base != 10 else digits
        if len(digits) > MAX_DIGITS:
            raise ConstructorError(None, None, f"an integer of more than {MAX_DIGITS} digits", node.start_mark)
        return sign * int(digits, base)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        text = str(self.construct_scalar(node)).lower()
        if text.endswith((".inf", ".nan")):
            return float(text.replace(".", ""))
        return float(text)

    def construct_yaml_bool(self, node: ScalarNode) -> bool:
        return str(self.construct_scalar(node)).lower() == "true"

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
                ) from None
            line = key_node.start_mark.line + 1
            if first is not None:
                raise ConstructorError(
                    None, None, f"duplicate key {str(key)[:80]!r} (first on line {first})", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


for _tag, _method in (
    ("int", _Constructor.construct_yaml_int),
    ("float", _Constructor.construct_yaml_float),
    ("bool", _Constructor.construct_yaml_bool),
):
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _method)  # type: ignore[type-var]


class _Composer(Composer):
    """PyYAML's composer, refusing aliases, anchors, explicit tags and deep nesting as it goes."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[attr-defined]
        mark: Any = event.start_mark  # yaml.error.Mark, or libyaml's own
        if isinstance(event, AliasEvent):
            raise ComposerError(None, None, "aliases (*name) are not allowed in a plant file", mark)
        if event.anchor is not None:
            raise ComposerError(None, None, "anchors (&name) are not allowed in a plant file", mark)
        tag = getattr(event, "tag", None)
        if tag is not None:
            tag = str(tag).replace("tag:yaml.org,2002:", "!!")[:40]
            raise ComposerError(None, None, f"explicit tags ({tag}) are not allowed in a plant file", mark)
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class PlantLoader(_Composer, CParser, _Constructor, _Core12Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Composer.__init__(self)
            _Constructor.__init__(self)
            _Core12Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class PlantLoader(Reader, Scanner, Parser, _Composer, _Constructor, _Core12Resolver):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            _Composer.__init__(self)
            _Constructor.__init__(self)
            _Core12Resolver.__init__(self)


def parse_yaml(text: str, source: str) -> Any:
    """The one document in ``text`` as plain data; any YAML problem is a ``ConfigError`` naming its line."""
    loader = PlantLoader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}" if mark else "(yaml)"
        raise ConfigError(source, line, None, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (control characters)
        lineno = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character  # libyaml gives a code point, PyYAML's reader the character
        code = ord(char) if isinstance(char, str) and len(char) == 1 else char
        raise ConfigError(source, f"line {lineno}", code, f"invalid YAML: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "(yaml)", None, f"invalid YAML: {exc}") from None
    except (RecursionError, MemoryError, ValueError) as exc:  # a gap in the checks above must not be a traceback
        raise ConfigError(source, "(yaml)", None, f"invalid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> Any:
    return parse_yaml(read_text(path), str(path))
