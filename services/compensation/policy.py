"""Remedy policy documents: 三包 per category, statutory damages, parcel caps, goodwill, per brand.

A `RemedyPolicy` is data (JSON validated by pydantic), versioned per brand; every decision
records the version it used, so a new version never alters a past decision. The packaged
default (`data/policy_default.json`) is the statutory baseline built from the seed 002 三包
table [002 三包规定 "名称 整机三包期 ... 主要部件三包期 ... 折旧率"], the 1995 三包 regulation
(部分商品修理更换退货责任规定) and the laws in force (消法 Art. 25 and 55, 食安法 Art. 148).

Precedence of grounds [002 处理消费者投诉的依据]: law > local regulation > standards >
contract > the brand's own promises. A brand document may be more generous than the law,
never less: `check_not_less_generous` names each rule a brand document would undercut, and
`load_brand_policy` refuses such a document (a 422-worthy `PolicyError`).

Pure: no clock, no I/O beyond reading the packaged default once. Amounts in integer fen.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from string import Formatter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.money import multiply_fen
from shared.textfold import fold_key

DEFAULT_DOCUMENT = Path(__file__).parent / "data" / "policy_default.json"
BASIS_POINTS = 10_000

Ground = Literal["law", "regulation", "standard", "contract", "brand"]
# Precedence of grounds, strongest first [002 处理消费者投诉的依据].
GROUNDS: tuple[Ground, ...] = ("law", "regulation", "standard", "contract", "brand")
StatutoryKind = Literal["fraud", "unsafe_food"]
GoodwillKind = Literal["voucher", "gift", "discount", "shipping", "card_transfer"]


class PolicyError(ValueError):
    """A policy document that cannot be used; the message names the field or rule (422)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SanbaoCategory(_Model):
    """三包 periods of one product category, in days from the invoice (sale) date."""

    category: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str = Field(min_length=1, max_length=32)
    refund_days: int = Field(ge=0, le=3650)
    exchange_days: int = Field(ge=0, le=3650)
    whole_unit_warranty_days: int = Field(ge=0, le=3650)
    main_part_warranty_days: int = Field(ge=0, le=3650)
    depreciation_bp_per_day: int = Field(ge=0, le=BASIS_POINTS)
    source: str = Field(min_length=1, max_length=400)
    note: str = Field(default="", max_length=400)
    # Other words a complaint names the category by (冰箱 for 家用电冰箱, 彩电...).
    aliases_zh: tuple[str, ...] = Field(default=(), max_length=20)

    @model_validator(mode="after")
    def _periods_nest(self) -> SanbaoCategory:
        if not self.refund_days <= self.exchange_days <= self.whole_unit_warranty_days:
            raise ValueError(
                f"category {self.category}: periods must nest, refund_days "
                f"({self.refund_days}) <= exchange_days ({self.exchange_days}) <= "
                f"whole_unit_warranty_days ({self.whole_unit_warranty_days})"
            )
        if self.main_part_warranty_days < self.whole_unit_warranty_days:
            raise ValueError(
                f"category {self.category}: main_part_warranty_days "
                f"({self.main_part_warranty_days}) is shorter than the whole-unit warranty "
                f"({self.whole_unit_warranty_days})"
            )
        return self


class StatutoryRule(_Model):
    """A punitive-damages rule of the law: damages = max(price×m, loss×n, floor)."""

    rule_id: str = Field(min_length=1, max_length=64)
    finding: StatutoryKind
    law: str = Field(min_length=1, max_length=64)
    article: str = Field(min_length=1, max_length=32)
    price_multiple: int = Field(ge=0, le=100)
    loss_multiple: int = Field(ge=0, le=100)
    floor_fen: int = Field(ge=0)
    refund_price: bool
    compensate_loss: bool
    source: str = Field(min_length=1, max_length=400)


class ParcelCap(_Model):
    """The carrier's cap for an unvalued parcel, kept as CNY fen with how it was converted."""

    cap_fen: int = Field(gt=0)
    source_currency: str = Field(pattern=r"^[A-Z]{3}$")
    source_amount_minor: int = Field(gt=0, description="in the source currency's cents")
    rate: str = Field(
        max_length=16, description="CNY per unit of the source currency, a plain decimal"
    )
    rate_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    source: str = Field(min_length=1, max_length=400)

    @model_validator(mode="after")
    def _cap_is_the_conversion(self) -> ParcelCap:
        try:  # a plain decimal only: no exponent (1e999999 would be a huge exact Fraction)
            if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,8})?", self.rate):
                raise InvalidOperation
            rate = Decimal(self.rate)
        except InvalidOperation:
            raise ValueError(f"parcel_cap.rate {self.rate!r} is not a decimal") from None
        if not rate.is_finite() or rate <= 0:
            raise ValueError(f"parcel_cap.rate {self.rate!r} must be a positive decimal")
        expected = multiply_fen(self.source_amount_minor, Fraction(rate))
        if self.cap_fen != expected:
            raise ValueError(
                f"parcel_cap.cap_fen {self.cap_fen} is not {self.source_amount_minor} "
                f"{self.source_currency} cents at {self.rate} ({expected} fen)"
            )
        return self


class GoodwillItem(_Model):
    """A gesture the brand may offer beyond any entitlement, within its limits."""

    kind: GoodwillKind
    name_zh: str = Field(min_length=1, max_length=32)
    percent_bp: int = Field(ge=0, le=BASIS_POINTS, description="share of the price")
    min_fen: int = Field(ge=0)
    max_fen: int = Field(ge=0)

    @model_validator(mode="after")
    def _limits_order(self) -> GoodwillItem:
        if self.min_fen > self.max_fen:
            raise ValueError(
                f"goodwill {self.kind}: min_fen {self.min_fen} > max_fen {self.max_fen}"
            )
        return self


APOLOGY_VARIABLES = frozenset({"address", "brand", "category", "handler_id"})
# Wording that reads as an admission of fault or a promise of money: an apology is neither
# (先处理情感，后处理事件 [002]); the remedy comes after, in its own step.
APOLOGY_FORBIDDEN = ("责任", "赔偿", "过错", "过失", "承担", "赔付", "理赔")
DEFAULT_APOLOGY = (
    "{address}好！{category}给{address}带来的不便和困扰，{brand}深表歉意。"
    "{address}反映的情况我们已详细记录，专员（工号{handler_id}）将全程跟进，并尽快与{address}联系。"
)
DEFAULT_CATEGORY_NAMES: dict[str, str] = {
    "delivery": "快递配送", "parcel": "快递包裹", "product_quality": "所购产品",
    "loyalty_points": "会员积分", "points": "会员积分", "tv": "电视机",
    "dry_cleaning": "干洗服务", "laundry": "洗衣服务", "photo": "照片冲印服务",
    "tailoring": "裁缝服务", "prepaid_card": "预付卡", "membership": "会员服务",
}


class ApologyTemplates(_Model):
    """The brand's apology wording (Chinese by default), per channel, with its own version.

    Variables: {address} (the form of address, never a name: 您), {brand}, {category} (the
    product category in Chinese), {handler_id}. Not an admission of fault: no 责任/赔偿.
    """

    version: str = Field(default="apology-1", min_length=1, max_length=32)
    address: str = Field(default="您", min_length=1, max_length=8)
    brand_name_zh: str | None = Field(default=None, min_length=1, max_length=64)
    default: str = Field(default=DEFAULT_APOLOGY, min_length=1, max_length=500)
    by_channel: dict[str, str] = Field(default_factory=dict, max_length=16)
    category_names_zh: dict[str, str] = Field(default_factory=dict, max_length=200)

    @model_validator(mode="after")
    def _templates_are_apologies(self) -> ApologyTemplates:
        for key, text in [("default", self.default), *sorted(self.by_channel.items())]:
            where = "apology.default" if key == "default" else f"apology.by_channel.{key}"
            if len(text) > 500 or not text.strip():
                raise ValueError(f"{where}: a template is 1 to 500 characters")
            try:
                fields = [(n, c, f) for _, n, f, c in Formatter().parse(text) if n is not None]
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            if any(conversion or spec for _, conversion, spec in fields):
                raise ValueError(f"{where}: variables take no conversion or format spec")
            names = {n for n, _, _ in fields}
            unknown = sorted(names - APOLOGY_VARIABLES)
            if unknown:
                raise ValueError(
                    f"{where}: unknown variable(s) {unknown}; use {sorted(APOLOGY_VARIABLES)}"
                )
            bad = [word for word in APOLOGY_FORBIDDEN if word in text]
            if bad:
                raise ValueError(
                    f"{where}: an apology is not an admission of fault, remove {bad}"
                )
        return self


class RemedyPolicy(_Model):
    """One version of one brand's remedy policy."""

    brand: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=32)
    ground: Ground = "brand"
    repairs_before_replacement: int = Field(ge=1, le=10)
    repairs_source: str = Field(min_length=1, max_length=400)
    distance_return_days: int = Field(ge=0, le=365)
    distance_source: str = Field(min_length=1, max_length=400)
    sanbao: tuple[SanbaoCategory, ...] = Field(min_length=1)
    statutory: tuple[StatutoryRule, ...]
    parcel_cap: ParcelCap
    goodwill: tuple[GoodwillItem, ...] = ()
    # 重作 for services [002 "消费者提出重作、退货、退款要求的,经营者应当给予重作"]: the
    # categories whose remedy is doing the service again (dry cleaning, photos...).
    redo_categories: tuple[str, ...] = (
        "dry_cleaning", "laundry", "photo", "photo_printing", "tailoring", "printing",
    )
    # Prepaid services and cards, where the catalogue's 转卡 (card transfer) applies.
    prepaid_categories: tuple[str, ...] = (
        "prepaid_card", "membership", "fitness", "beauty", "education",
    )
    apology: ApologyTemplates = Field(default_factory=ApologyTemplates)

    @model_validator(mode="after")
    def _unique_keys(self) -> RemedyPolicy:
        for what, keys in (
            ("sanbao category", [c.category for c in self.sanbao]),
            ("statutory finding", [r.finding for r in self.statutory]),
            ("goodwill kind", [g.kind for g in self.goodwill]),
        ):
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    raise ValueError(f"{what} {key!r} appears twice")
                seen.add(key)
        return self

    def category(self, name: str) -> SanbaoCategory | None:
        for entry in self.sanbao:
            if entry.category == name:
                return entry
        return None

    def statutory_rule(self, finding: StatutoryKind) -> StatutoryRule | None:
        for rule in self.statutory:
            if rule.finding == finding:
                return rule
        return None


def parse_policy(document: str | bytes) -> RemedyPolicy:
    """Validate a policy document (JSON); a bad one raises `PolicyError` naming the field."""
    try:
        return RemedyPolicy.model_validate_json(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'document'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PolicyError(f"invalid remedy policy: {problems}") from None


@lru_cache(maxsize=1)
def default_policy() -> RemedyPolicy:
    """The packaged statutory baseline (`data/policy_default.json`), read once."""
    return parse_policy(DEFAULT_DOCUMENT.read_bytes())


def check_not_less_generous(policy: RemedyPolicy, baseline: RemedyPolicy) -> list[str]:
    """Every way `policy` gives the consumer less than `baseline` (the law), each naming its rule.

    Law > local regulation > standards > contract > brand [002 处理消费者投诉的依据]: a brand
    may promise more than the law, never less. A category the brand leaves out keeps the
    baseline's periods (see `effective_category`), so only the categories it lists are compared.
    """
    problems: list[str] = []
    if policy.repairs_before_replacement > baseline.repairs_before_replacement:
        problems.append(
            f"repairs_before_replacement {policy.repairs_before_replacement} exceeds "
            f"{baseline.repairs_before_replacement} ({baseline.repairs_source})"
        )
    if policy.distance_return_days < baseline.distance_return_days:
        problems.append(
            f"distance_return_days {policy.distance_return_days} is below "
            f"{baseline.distance_return_days} ({baseline.distance_source})"
        )
    for ours in policy.sanbao:
        law = baseline.category(ours.category)
        if law is None:
            continue
        for field in (
            "refund_days",
            "exchange_days",
            "whole_unit_warranty_days",
            "main_part_warranty_days",
        ):
            if getattr(ours, field) < getattr(law, field):
                problems.append(
                    f"sanbao {ours.category}.{field} {getattr(ours, field)} is below "
                    f"{getattr(law, field)} ({law.source})"
                )
        if ours.depreciation_bp_per_day > law.depreciation_bp_per_day:
            problems.append(
                f"sanbao {ours.category}.depreciation_bp_per_day "
                f"{ours.depreciation_bp_per_day} exceeds {law.depreciation_bp_per_day} "
                f"({law.source})"
            )
    for law_rule in baseline.statutory:
        rule = policy.statutory_rule(law_rule.finding)
        cite = f"{law_rule.law} {law_rule.article}"
        if rule is None:
            problems.append(f"statutory rule {law_rule.rule_id} ({cite}) is missing")
            continue
        for field in ("price_multiple", "loss_multiple", "floor_fen"):
            if getattr(rule, field) < getattr(law_rule, field):
                problems.append(
                    f"statutory {rule.rule_id}.{field} {getattr(rule, field)} is below "
                    f"{getattr(law_rule, field)} ({cite})"
                )
        for flag in ("refund_price", "compensate_loss"):
            if getattr(law_rule, flag) and not getattr(rule, flag):
                problems.append(f"statutory {rule.rule_id}.{flag} must be true ({cite})")
    if policy.parcel_cap.cap_fen < baseline.parcel_cap.cap_fen:
        problems.append(
            f"parcel_cap.cap_fen {policy.parcel_cap.cap_fen} is below "
            f"{baseline.parcel_cap.cap_fen} ({baseline.parcel_cap.source})"
        )
    return problems


def load_brand_policy(document: str | bytes, baseline: RemedyPolicy | None = None) -> RemedyPolicy:
    """Validate a brand's document and refuse it if it is less generous than the law."""
    policy = parse_policy(document)
    problems = check_not_less_generous(policy, baseline or default_policy())
    if problems:
        raise PolicyError(
            "remedy policy less generous than the law (a brand may give more, never less): "
            + "; ".join(problems)
        )
    return policy


def effective_category(
    policy: RemedyPolicy, name: str, baseline: RemedyPolicy | None = None
) -> SanbaoCategory | None:
    """The brand's periods for a category, else the statutory baseline's, else None."""
    return policy.category(name) or (baseline or default_policy()).category(name)


# Category names as complaints write them ("冰箱 refrigerator", "彩電", "Color TV"): the
# policy's keys are words of ASCII letters, digits and underscores.
_WORDS = re.compile(r"[a-z0-9]+")


def product_category(
    policy: RemedyPolicy, written: str | None, baseline: RemedyPolicy | None = None
) -> str | None:
    """The policy's category key for a product category as the complaint wrote it.

    Matched after folding (NFKC, case, traditional → simplified): the key itself, the key's
    words in order ("color tv", "washing-machine"), the Chinese name or an alias; the 三包
    table first (the brand's, then the law's, in document order), then the redo and prepaid
    service categories. None when nothing matches: no 三包 period is assumed."""
    if not written or not written.strip():
        return None
    folded = fold_key(written.strip())
    words = " ".join(_WORDS.findall(folded))
    tables = [*policy.sanbao, *(baseline or default_policy()).sanbao]
    for entry in tables:
        if folded == entry.category or _has_words(words, entry.category):
            return entry.category
    for entry in tables:
        names = (entry.name_zh, *entry.aliases_zh)
        if any(fold_key(name) in folded for name in names):
            return entry.category
    for key in (*policy.redo_categories, *policy.prepaid_categories):
        if folded == key or _has_words(words, key) or any(
            fold_key(name) in folded for name in _SERVICE_NAMES.get(key, ())
        ):
            return key
    return None


def _has_words(words: str, key: str) -> bool:
    phrase = key.replace("_", " ")
    return f" {phrase} " in f" {words} "


_SERVICE_NAMES: dict[str, tuple[str, ...]] = {
    "dry_cleaning": ("干洗",),
    "laundry": ("洗衣服务", "洗衣店"),
    "photo": ("照片", "冲印", "摄影"),
    "photo_printing": ("冲印",),
    "tailoring": ("裁缝", "改衣"),
    "printing": ("印刷",),
    "prepaid_card": ("预付卡", "储值卡", "充值卡", "消费卡", "购物卡"),
    "membership": ("会员卡", "会籍"),
    "fitness": ("健身",),
    "beauty": ("美容", "美发"),
    "education": ("培训", "课程"),
}
