"""The apology, first and on its own (先处理情感，后处理事件 [002]), from the brand's template.

Chinese by default; the variables are filled without PII: the consumer is addressed as 您
(never by name), the product category in Chinese, the handler's id, the brand's name. The
wording is an apology for the experience, not an admission of fault: templates naming
责任/赔偿 are refused when the policy document is loaded (`policy.ApologyTemplates`).

Pure: the same template version and the same complaint give the same message.
"""

from __future__ import annotations

from typing import Any

from services.compensation.policy import (
    DEFAULT_CATEGORY_NAMES,
    ApologyTemplates,
    RemedyPolicy,
    default_policy,
)

GENERIC_CATEGORY = "此次购买的产品或服务"


def render(
    policy_or_templates: RemedyPolicy | ApologyTemplates,
    received: dict[str, Any],
    handler_id: str,
) -> tuple[str, str]:
    """The apology for this complaint and the version of the template used.

    The template is the one for the complaint's channel, else the brand's default; the
    version is `<policy version>/<apology version>/<channel or default>` (without the
    policy version when only templates are given)."""
    if isinstance(policy_or_templates, RemedyPolicy):
        policy: RemedyPolicy | None = policy_or_templates
        templates = policy_or_templates.apology
    else:
        policy, templates = None, policy_or_templates
    channel = str(received.get("channel") or "")
    key = channel if channel in templates.by_channel else "default"
    text = templates.by_channel[key] if key != "default" else templates.default
    message = text.format(
        address=templates.address,
        brand=_brand_name(templates, policy),
        category=category_zh(received, templates, policy),
        handler_id=handler_id,
    )
    prefix = f"{policy.version}/" if policy is not None else ""
    return message, f"{prefix}{templates.version}/{key}"


def category_zh(
    received: dict[str, Any], templates: ApologyTemplates, policy: RemedyPolicy | None = None
) -> str:
    """The product category in Chinese: the brand's names, its 三包 table, the defaults."""
    category = str((received.get("product") or {}).get("category") or "")
    if not category:
        return GENERIC_CATEGORY
    named = templates.category_names_zh.get(category)
    if named:
        return named
    for source in (policy, default_policy()):
        entry = source.category(category) if source is not None else None
        if entry is not None:
            return entry.name_zh
    return DEFAULT_CATEGORY_NAMES.get(category, GENERIC_CATEGORY)


def _brand_name(templates: ApologyTemplates, policy: RemedyPolicy | None) -> str:
    if templates.brand_name_zh:
        return templates.brand_name_zh
    if policy is not None and policy.brand != "*":
        return policy.brand
    return "我们"
