"""Money as integer fen (1 yuan = 100 fen): exact parsing, formatting and arithmetic.

Floats never enter or leave this module; amounts that are not a whole number of fen are rejected.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TypeAlias

Fen: TypeAlias = int
"""An amount of money in fen (分), the smallest unit of the renminbi."""

FEN_PER_YUAN = 100

_YUAN_TEXT = re.compile(r"[+-]?\d+(?:\.\d+)?")


def yuan_to_fen(amount: str | int | Decimal) -> Fen:
    """Convert a yuan amount to fen exactly; reject floats and sub-fen precision.

    Strings must be plain decimals such as ``"12"``, ``"-3.5"`` or ``"1234.50"``
    (no currency sign, no thousands separators). ``"1.230"`` is accepted as 123 fen
    because its value is a whole number of fen; ``"1.234"`` is rejected.
    """
    return _decimal_yuan_to_fen(_as_decimal(amount))


def format_fen(fen: Fen) -> str:
    """Render fen for people, e.g. ``123450`` -> ``"¥1,234.50"``, ``-5`` -> ``"-¥0.05"``."""
    _require_fen(fen)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def multiply_fen(fen: Fen, multiplier: int | Fraction) -> Fen:
    """Multiply an amount by an exact factor, rounding half away from zero to the fen.

    Use ``Fraction(3, 10)`` for 30%; floats are refused because they are not exact.
    """
    _require_fen(fen)
    return _round_half_up(Fraction(fen) * _as_fraction(multiplier))


def max_fen(first: Fen, *rest: Fen) -> Fen:
    """Return the largest of one or more amounts."""
    amounts = (first, *rest)
    for amount in amounts:
        _require_fen(amount)
    return max(amounts)


def _as_decimal(amount: str | int | Decimal) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, str | int | Decimal):
        raise TypeError(f"yuan amount must be str, int or Decimal, not {type(amount).__name__}")
    if isinstance(amount, str):
        return _parse_yuan_text(amount)
    return Decimal(amount)


def _parse_yuan_text(text: str) -> Decimal:
    if not _YUAN_TEXT.fullmatch(text):
        raise ValueError(f"not a plain decimal yuan amount: {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a decimal yuan amount: {text!r}") from error


def _decimal_yuan_to_fen(yuan: Decimal) -> Fen:
    if not yuan.is_finite():
        raise ValueError(f"yuan amount must be finite, got {yuan}")
    fen = yuan * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"yuan amount has more than two decimal places: {yuan}")
    return int(fen)


def _as_fraction(multiplier: int | Fraction) -> Fraction:
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | Fraction):
        raise TypeError(f"multiplier must be int or Fraction, not {type(multiplier).__name__}")
    return Fraction(multiplier)


def _round_half_up(value: Fraction) -> int:
    magnitude = abs(value)
    rounded = int(magnitude + Fraction(1, 2))  # int() truncates; magnitude is non-negative
    return rounded if value >= 0 else -rounded


def _require_fen(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"fen amount must be int, not {type(value).__name__}")
