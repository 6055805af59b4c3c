"""Every string shown to a user has its French translation, and none escaped the ``_()`` wrapping.

The strings are extracted with Babel from the files ``babel.cfg`` names, exactly as ``pybabel extract``
would; the AST scan catches a label written as a bare literal, which extraction cannot see.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "pdm" / "locale" / "fr" / "LC_MESSAGES" / "pdm.po"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
# Streamlit calls whose first argument (or label/placeholder/title) a user reads.
SHOWN = {
    "title", "header", "subheader", "caption", "markdown", "write", "text", "error", "warning", "info", "success",
    "metric", "button", "form_submit_button", "download_button", "link_button", "page_link", "expander",
    "selectbox", "multiselect", "radio", "checkbox", "toggle", "text_input", "text_area", "number_input",
    "slider", "date_input", "time_input", "file_uploader", "tabs", "Page", "toast", "popover",
}  # fmt: skip
LABEL_KEYWORDS = {"label", "placeholder", "title", "help"}
# Literals that read the same in every language: examples of a unit, a name, a URL.
NOT_LANGUAGE = {"degC", "line-1-plc", "opc.tcp://host:4840/path"}


def sources() -> list[Path]:
    """The files babel.cfg asks pybabel to extract from."""
    files: list[Path] = []
    for pattern in re.findall(r"^\[python:\s*(\S+)\]", (ROOT / "babel.cfg").read_text(), re.MULTILINE):
        files += sorted(ROOT.glob(pattern.replace("**.py", "**/*.py")))
    return files


def extracted() -> dict[str, str]:
    """msgid → where it is used, from every extracted file."""
    found: dict[str, str] = {}
    for path in sources():
        for lineno, message, _comments, _context in extract_from_file("python", path, keywords=KEYWORDS):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, f"{path.relative_to(ROOT)}:{lineno}")
    return found


def test_babel_cfg_covers_the_app_pages_and_notifications():
    names = {str(p.relative_to(ROOT)) for p in sources()}
    assert {"app_streamlit.py", "pdm/alerts/notify.py", "pdm/ui/overview.py", "pdm/ui/technician.py"} <= names


def test_every_shown_string_has_a_french_translation():
    with PO.open("rb") as f:
        catalog = read_po(f, locale="fr")
    missing = []
    for msgid, where in extracted().items():
        entry = catalog.get(msgid)
        strings = entry.string if entry is not None and isinstance(entry.string, tuple) else (entry and entry.string,)
        if entry is None or entry.fuzzy or not all(strings):
            missing.append(f"{where}: {msgid!r}")
    assert not missing, "no French translation (run pybabel update, then translate):\n" + "\n".join(missing)


def _words(node: ast.expr) -> str | None:
    """The literal text of a bare string or f-string argument; None when it is wrapped or computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def _bare_labels(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        owner = getattr(node.func, "value", None)
        # A logger's warning/info goes to the operator's log, in English like the CLI.
        if name not in SHOWN or (isinstance(owner, ast.Name) and owner.id in {"log", "logger", "logging"}):
            continue
        # page_link(url_path, label): the label is the second argument; st.Page's title is a keyword.
        args = node.args[1:2] if name == "page_link" else node.args[:1]
        args += [k.value for k in node.keywords if k.arg in LABEL_KEYWORDS]
        for arg in args:
            text = _words(arg)
            # Letters make it language: "**", "—", f"**{name}**" are not, nor is a snake_case
            # identifier (a plant-file field name, an example code), the same in every language.
            if (
                text is not None
                and text not in NOT_LANGUAGE
                and not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", text)
                and re.search(r"[A-Za-z]{2}", re.sub(r":material/\w+:|:\w+-badge\[", "", text))
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}({text!r})")
    return found


# Pages still in English only: strict, so translating one fails here until it leaves this list.
NOT_YET_TRANSLATED: set[str] = set()


def _scanned(path: Path):
    name = str(path.relative_to(ROOT))
    marks = [pytest.mark.xfail(strict=True, reason="page not translated yet")] if name in NOT_YET_TRANSLATED else []
    return pytest.param(path, id=name, marks=marks)


@pytest.mark.parametrize("path", [_scanned(p) for p in sources()])
def test_no_user_visible_literal_escaped_translation(path):
    assert _bare_labels(path) == []
