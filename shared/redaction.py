"""Free-text redaction: personal data a consumer typed into a complaint, masked.

Pure and deterministic (no clock, no randomness, no I/O after import): the same text and
names always give the same result, so a replay re-derives it exactly. Intake redacts every
free-text field before it is recorded or published; the original is sealed in the vault.

What is masked, and how (the masks of `shared.security.mask_phone` / `mask_name`):

| found in the text | example | becomes |
|---|---|---|
| mainland mobile, with +86 / 86 / 0086, spaces or dashes | `+86 138-1234-5678` | `138****5678` |
| landline with its area code | `021-62345678`, `(0755)2345678` | `021****5678` |
| resident ID number, 18 digits (X last) or the old 15 | `11010519491231002X` | `[身份证号]` |
| bank-card-like run of 16-19 digits (groups of 4 allowed) | `6222 0212 3456 7890` | `[银行卡号]` |
| e-mail address | `lin.mei@example.com` | `[邮箱]` |
| the consumer's own name and any extra names given | `张三丰`, `張三豐` | `张**`, `張**` |

Matching sees each character folded (NFKC, so full-width digits and `＠` count;
traditional to simplified, so a name matches in either script; lower case), but the
output keeps every character that is not masked exactly as it was typed.
Deliberately left alone: numbers without an area code (prices, dates, order numbers
under 16 digits) and one-character names (they would mask ordinary words).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from shared.security import mask_name, mask_phone

ID_NUMBER_MASK = "[身份证号]"
BANK_CARD_MASK = "[银行卡号]"
EMAIL_MASK = "[邮箱]"

_TS_DATA = Path(__file__).parent / "data" / "ts_characters.json"
_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_ID_18 = re.compile(
    rf"(?<![0-9a-z])[1-9][0-9]{{5}}[ -]?(?:18|19|20)[0-9]{{2}}{_DATE}[ -]?[0-9]{{3}}[0-9x]"
    r"(?![0-9a-z])"
)
_ID_15 = re.compile(rf"(?<![0-9a-z])[1-9][0-9]{{7}}{_DATE}[0-9]{{3}}(?![0-9a-z])")
_BANK_CARD = re.compile(r"(?<![0-9])[0-9]{4}(?:[ -]?[0-9]{4}){3}(?:[ -]?[0-9]{1,3})?(?![0-9])")
_COUNTRY = r"(?:\(?(?:\+|00)?86\)?[ -]?)?"
_MOBILE = re.compile(rf"(?<![0-9]){_COUNTRY}(1[3-9][0-9](?:[ -]?[0-9]){{8}})(?![0-9])")
_LANDLINE = re.compile(
    rf"(?<![0-9]){_COUNTRY}(\(?0[1-9][0-9]{{1,2}}\)?[ -]?[2-9][0-9]{{2,3}}[ -]?[0-9]{{4}})(?![0-9])"
)
Span = tuple[int, int, str]


def _load_traditional() -> dict[int, str]:
    data = json.loads(_TS_DATA.read_text(encoding="utf-8"))
    return {ord(t): s for t, s in zip(data["characters"], data["simplified"], strict=True)}


_TO_SIMPLIFIED = _load_traditional()


def fold(text: str) -> str:
    """The text as matching sees it, one character for one: NFKC, simplified, lower case."""
    return text.translate(_FOLDED)


def _fold_char(char: str) -> str:
    normal = unicodedata.normalize("NFKC", char)
    if len(normal) != 1:
        return char
    simplified = _TO_SIMPLIFIED.get(ord(normal), normal)
    lower = simplified.lower()
    return lower if len(lower) == 1 else simplified


# Every folded character of the Basic Multilingual Plane, computed once (about 40 ms).
_FOLDED = {c: f for c in range(0x10000) if (f := _fold_char(chr(c))) != chr(c)}


def redact(text: str, names: Iterable[str] = ()) -> str:
    """`text` with the personal data listed in the module docstring masked."""
    folded = fold(text)
    spans: list[Span] = []
    names_rules = [(pattern, _masked_name) for pattern in _name_patterns(names)]
    for pattern, mask in (*_RULES, *names_rules):
        _claim(spans, ((m.start(), m.end(), mask(m, text)) for m in pattern.finditer(folded)))
    return _apply(text, spans)


def redact_fields(texts: Mapping[str, str], names: Iterable[str] = ()) -> dict[str, str]:
    """Each text of a mapping redacted with the same names."""
    names = list(names)
    return {field: redact(value, names) for field, value in texts.items()}


def _claim(spans: list[Span], found: Iterable[Span]) -> None:
    """Add the spans that overlap none already claimed (earlier rules win)."""
    for start, end, mask in found:
        if all(end <= s or start >= e for s, e, _ in spans):
            spans.append((start, end, mask))


def _apply(text: str, spans: list[Span]) -> str:
    parts, position = [], 0
    for start, end, mask in sorted(spans):
        parts += [text[position:start], mask]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _digits(match: re.Match[str], text: str, group: int = 0) -> str:
    return "".join(c for c in fold(text[match.start(group) : match.end(group)]) if c.isdigit())


def _masked_phone(match: re.Match[str], text: str) -> str:
    return mask_phone(_digits(match, text, 1))


def _masked_name(match: re.Match[str], text: str) -> str:
    return mask_name("".join(text[match.start() : match.end()].split()))


def _constant(mask: str) -> Callable[[re.Match[str], str], str]:
    return lambda match, text: mask


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], str], str]], ...] = (
    (_EMAIL, _constant(EMAIL_MASK)),
    (_ID_18, _constant(ID_NUMBER_MASK)),
    (_BANK_CARD, _constant(BANK_CARD_MASK)),
    (_ID_15, _constant(ID_NUMBER_MASK)),
    (_MOBILE, _masked_phone),
    (_LANDLINE, _masked_phone),
)


def _name_patterns(names: Iterable[str]) -> list[re.Pattern[str]]:
    """One pattern per name of two characters or more, longest first, spaces between allowed."""
    folded = {"".join(fold(name).split()) for name in names}
    usable = sorted((n for n in folded if len(n) >= 2), key=lambda n: (-len(n), n))
    return [re.compile(r"\s?".join(re.escape(c) for c in name)) for name in usable]
