"""Every code the field app shows has words in Chinese and English, and none of its text holds an emoji.

Every case status and action code the API can send has words in the field app's table
(web/static/i18n/cases.js), every visit purpose and resident group (tag) in web/static/i18n/field.js;
no UI text of the field app holds an emoji (offline, a phone without the emoji font draws empty boxes).

The JS tables are read as text: ``code: ["中文", "English"],`` one per line, inside ``STATUS_WORDS = {...}``.
"""

from __future__ import annotations

import re
from pathlib import Path

from gis.cases import workflow

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
_ENTRY = re.compile(r'^\s*"?([a-z_]+)"?:\s*\["([^"]+)",\s*"([^"]+)"\],?\s*$', re.MULTILINE)
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\uFE0F]")


def _table(source: str, name: str) -> dict[str, tuple[str, str]]:
    block = re.search(rf"export const {name} = \{{(.*?)\n\}};", source, re.DOTALL)
    assert block, f"{name} not found"
    return {code: (zh, en) for code, zh, en in _ENTRY.findall(block.group(1))}


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_every_status_and_action_code_has_chinese_and_english_words() -> None:
    source = (STATIC / "i18n" / "cases.js").read_text(encoding="utf-8")
    for name, codes in (("STATUS_WORDS", workflow.STATUSES), ("ACTION_WORDS", workflow.ACTIONS)):
        words = _table(source, name)
        missing = sorted(set(codes) - set(words))
        assert missing == [], f"{name} lacks {missing}"
        for code in codes:
            zh, en = words[code]
            assert _has_han(zh), f"{name}[{code}] Chinese word {zh!r}"
            assert en.isascii() and not _has_han(en) and en != code, f"{name}[{code}] English word {en!r}"


def test_every_visit_purpose_and_resident_group_has_words() -> None:
    from gis import visits

    source = (STATIC / "i18n" / "field.js").read_text(encoding="utf-8")
    for name, codes in (("PURPOSE_WORDS", visits.PURPOSES), ("TAG_WORDS", visits.DEFAULT_CADENCE)):
        words = _table(source, name)
        assert sorted(set(codes) - set(words)) == [], name
        assert all(_has_han(zh) and en.isascii() for zh, en in words.values())


def test_the_field_app_has_no_emoji() -> None:
    files = [STATIC / "field.html", STATIC / "i18n" / "cases.js", STATIC / "i18n" / "field.js",
             STATIC / "manifest.webmanifest", *sorted((STATIC / "field").glob("*.js"))]
    found = {f.name: _EMOJI.findall(f.read_text(encoding="utf-8")) for f in files}
    assert {name: chars for name, chars in found.items() if chars} == {}


def test_every_refusal_reason_of_a_case_step_has_words() -> None:
    # The reasons the case core and service put in details.reason, read from their source.
    repo = STATIC.parents[1]
    paths = [repo / "gis/cases/routing.py", repo / "gis/cases/workflow.py",
             *sorted((repo / "gis/services/cases").glob("*.py"))]
    sources = "".join(path.read_text(encoding="utf-8") for path in paths)
    reasons = (set(re.findall(r'"reason": "([a-z_]+)"', sources))
               | set(re.findall(r'_refuse\(action, "([a-z_]+)"', sources)))
    words = (STATIC / "i18n" / "field.js").read_text(encoding="utf-8")
    assert len(reasons) >= 10
    missing = sorted(r for r in reasons if f'"field.reason.{r}"' not in words)
    assert missing == []
