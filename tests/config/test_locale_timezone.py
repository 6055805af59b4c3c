"""The plant file's company locale and site time zone, and the formats they give money and dates."""

from __future__ import annotations

import pytest

from pdm.config.plants import parse_plants
from pdm.errors import ConfigError
from pdm.i18n import format_money, format_when, language

# 14 Nov 2023 22:53:20 UTC: 23:53 in Paris (winter time).
TS = 1_700_002_400.0


def _plants(**site) -> dict:
    return {"companies": [{"id": "acme", "locale": "fr", "sites": [{"id": "rouen", **site}]}]}


def _spaces(text: str) -> str:
    # French groups thousands with a narrow no-break space and puts a no-break space before €.
    return text.replace("\u202f", " ").replace("\xa0", " ")


def test_locale_and_timezone_are_read_and_default_to_none_and_utc():
    cfg = parse_plants(_plants(timezone="Europe/Paris"))
    assert (cfg.companies[0].locale, cfg.companies[0].sites[0].timezone) == ("fr", "Europe/Paris")
    bare = parse_plants({"companies": [{"id": "acme", "sites": [{"id": "rouen"}]}]})
    assert (bare.companies[0].locale, bare.companies[0].sites[0].timezone) == (None, "UTC")


@pytest.mark.parametrize("zone", ["Europe/Pariss", "Paris", "../../etc/passwd", "UTC+1"])
def test_a_bad_timezone_is_one_error_naming_the_field_and_value(zone):
    with pytest.raises(ConfigError) as caught:
        parse_plants(_plants(timezone=zone))
    message = str(caught.value)
    assert "companies[0].sites[0].timezone" in message and repr(zone) in message and "IANA" in message
    assert "\n" not in message


def test_an_unknown_locale_is_refused():
    with pytest.raises(ConfigError, match=r"companies\[0\]\.locale = 'de'"):
        parse_plants({"companies": [{"id": "acme", "locale": "de"}]})


def test_money_and_dates_in_french_and_english_on_the_site_clock():
    assert _spaces(format_money(14522.5, lang="fr")) == "14 522,50 €"
    assert format_money(14522.5, lang="en") == "€14,522.50"
    assert format_when(TS, lang="fr", tz="Europe/Paris") == "14 nov. 2023, 23:53"
    assert format_when(TS, lang="en", tz="Europe/Paris") == "14 Nov 2023, 23:53"
    assert format_when(TS, lang="en", tz=None) == "14 Nov 2023, 22:53"  # no zone: UTC
    assert format_when(TS + 180 * 86_400, lang="fr", tz="Europe/Paris").endswith("00:53")  # summer time


def test_the_users_choice_wins_over_the_company_locale_and_english_is_the_fallback():
    assert language("en", "fr") == "en"
    assert language(None, "fr") == "fr"
    assert language(None, None) == "en" and language("xx") == "en"
