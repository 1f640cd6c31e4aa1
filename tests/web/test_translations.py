"""The panel speaks Polish and English: every text in the code has a Polish translation, compiled."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import appliance

PACKAGE = Path(appliance.__file__).parent
PO = PACKAGE / "web/translations/pl/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "_l": None,
            "lazy_gettext": None}
METHODS = [("**.py", "python"), ("web/templates/**.html", "jinja2")]
# A named printf placeholder, with its flags and width ("%(month)02d"), or a str.format field.
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*[sd]|\{\w+\}")


def polish_catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="pl")


def texts_in_the_code() -> dict[tuple[str, str | None], str]:
    """Each translatable text of the package, with its context, and the file it is in."""
    found = {}
    for filename, _line, message, _comments, context in extract_from_dir(PACKAGE, METHODS, keywords=KEYWORDS):
        found[message if isinstance(message, str) else message[0], context] = filename
    return found


def translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def test_every_text_of_the_panel_has_a_polish_translation():
    catalog = polish_catalog()
    untranslated = {text: where for (text, context), where in texts_in_the_code().items()
                    if catalog.get(text, context) is None or not translated(catalog.get(text, context))}
    assert untranslated == {}, "run `make translations` and translate these in messages.po"


def test_no_translation_is_fuzzy_and_placeholders_match():
    for message in polish_catalog():
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(ids[0])), message.id


def test_the_compiled_catalog_is_the_po_file():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for message in polish_catalog():
        if message.id and isinstance(message.id, str):
            text = (compiled.pgettext(message.context, message.id) if message.context
                    else compiled.gettext(message.id))
            assert text == message.string, "run `make translations` to compile"


def test_a_polish_browser_gets_polish_pages_and_the_switch_changes_it(client, admin_user):
    polish = client.get("/login", headers={"Accept-Language": "pl,en;q=0.5"}).get_data(as_text=True)
    assert "Zaloguj się" in polish and 'lang="pl"' in polish
    english = client.get("/login", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert "Sign in" in english and "Zaloguj się" not in english
