"""Unit tests for shared.money: exact fen arithmetic, no floats."""

from decimal import Decimal
from fractions import Fraction

import pytest

from shared.money import format_fen, max_fen, multiply_fen, yuan_to_fen


@pytest.mark.parametrize(
    ("amount", "fen"),
    [
        ("0", 0),
        ("12", 1200),
        ("12.5", 1250),
        ("1234.50", 123450),
        ("0.01", 1),
        ("-3.05", -305),
        ("+7.10", 710),
        (5, 500),
        (Decimal("19.99"), 1999),
        (Decimal("1.230"), 123),
    ],
)
def test_yuan_amounts_convert_to_exact_fen(amount: str | int | Decimal, fen: int) -> None:
    assert yuan_to_fen(amount) == fen


@pytest.mark.parametrize("amount", ["1.234", Decimal("0.001"), Decimal("19.995")])
def test_sub_fen_precision_is_rejected(amount: str | Decimal) -> None:
    with pytest.raises(ValueError, match="more than two decimal places"):
        yuan_to_fen(amount)


@pytest.mark.parametrize("text", ["", "1,234.50", "¥12", "1e3", "12.", ".5", "abc", " 12"])
def test_non_plain_decimal_text_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a plain decimal"):
        yuan_to_fen(text)


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_decimal_is_rejected(amount: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        yuan_to_fen(amount)


@pytest.mark.parametrize("amount", [12.5, True])
def test_floats_and_bools_are_refused(amount: object) -> None:
    with pytest.raises(TypeError):
        yuan_to_fen(amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (123450, "¥1,234.50"),
        (0, "¥0.00"),
        (5, "¥0.05"),
        (100000000, "¥1,000,000.00"),
        (-5, "-¥0.05"),
        (-123456, "-¥1,234.56"),
    ],
)
def test_fen_is_formatted_as_yuan_with_separators(fen: int, text: str) -> None:
    assert format_fen(fen) == text


def test_format_fen_refuses_a_float() -> None:
    with pytest.raises(TypeError):
        format_fen(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fen", "multiplier", "product"),
    [
        (1000, 3, 3000),
        (1000, Fraction(3, 10), 300),
        (5, Fraction(1, 2), 3),  # 2.5 fen rounds half up to 3
        (15, Fraction(1, 10), 2),  # 1.5 fen rounds up
        (14, Fraction(1, 10), 1),  # 1.4 fen rounds down
        (-5, Fraction(1, 2), -3),  # half rounds away from zero
        (9999, Fraction(1, 3), 3333),
    ],
)
def test_multiply_fen_rounds_half_up_to_the_fen(
    fen: int, multiplier: int | Fraction, product: int
) -> None:
    assert multiply_fen(fen, multiplier) == product


def test_multiply_fen_refuses_a_float_multiplier() -> None:
    with pytest.raises(TypeError):
        multiply_fen(1000, 0.3)  # type: ignore[arg-type]


def test_max_fen_returns_the_largest_amount() -> None:
    assert max_fen(300, -5, 1200, 0) == 1200
    assert max_fen(-7) == -7


def test_max_fen_refuses_non_integer_amounts() -> None:
    with pytest.raises(TypeError):
        max_fen(100, Decimal("2"))  # type: ignore[arg-type]
