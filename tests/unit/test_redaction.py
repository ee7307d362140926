"""Free-text redaction (shared/redaction.py): what a consumer typed is masked, the rest kept.

Sentences follow the seed cases (../shared/seeds): the shampoo allergy, the renamed bath
house (会所更名, 003), the courier's unvalued parcel (003), the phone-video case (004).
"""

from __future__ import annotations

import random
import re

import pytest

from shared.redaction import fold, redact, redact_fields

NAME = "林美华"

CASES = [
    (
        "使用洗发水后头皮过敏，请回电13812345678，我是林美华。",
        "使用洗发水后头皮过敏，请回电138****5678，我是林**。",
    ),
    (
        "会所更名后不认预付卡，联系人林美华，手机 +86 138 1234 5678，身份证号11010519491231002X。",
        "会所更名后不认预付卡，联系人林**，手机 138****5678，身份证号[身份证号]。",
    ),
    (
        "快递未保价丢件，退款请打到6222 0212 3456 7890 123，或发邮件到 lin.meihua@example.com",
        "快递未保价丢件，退款请打到[银行卡号]，或发邮件到 [邮箱]",
    ),
    (
        "店员态度恶劣，我用手机拍了视频。家里座机021-62345678，或0086-139-1234-5678。",
        "店员态度恶劣，我用手机拍了视频。家里座机021****5678，或139****5678。",
    ),
    (  # traditional script, full-width digits and ＠
        "林美華的電話是１３８１２３４５６７８，郵箱ｍｅｉ＠ｅｘａｍｐｌｅ．ｃｏｍ，舊身份證110105491231002。",
        "林**的電話是138****5678，郵箱[邮箱]，舊身份證[身份证号]。",
    ),
    (  # a name typed with spaces, a landline with its area code in brackets
        "林 美 华（消费者）投诉，联系(0755)2345 6789转前台。",
        "林**（消费者）投诉，联系075*****6789转前台。",
    ),
    (  # a QQ mailbox is digits: the address is masked whole, not as a phone number
        "请回复到13812345678@qq.com，谢谢",
        "请回复到[邮箱]，谢谢",
    ),
]

UNCHANGED = [
    # Seed text with numbers that are not personal data: prices, dates, counts, order refs.
    "保修期内经两次修理仍不能正常使用的，经营者应当负责更换或者退货。",
    "订单号 202403051234，价格 6,900 元，2024年3月5日购买，29位消费者一起投诉。",
    "按消法第55条，赔偿金额为商品价款的3倍，不足500元的为500元。",
    "客服热线400-820-8820无人接听，等了15分钟。",
    "林女士说洗发水有问题",  # someone else's name is not the consumer's
]


@pytest.mark.parametrize(("typed", "published"), CASES)
def test_personal_data_in_a_complaint_is_masked(typed: str, published: str) -> None:
    assert redact(typed, [NAME]) == published


@pytest.mark.parametrize("typed", UNCHANGED)
def test_text_without_personal_data_is_kept_as_typed(typed: str) -> None:
    assert redact(typed, [NAME]) == typed


def test_names_match_in_either_script_and_extra_names_are_masked_too() -> None:
    text = "張偉和李娜一起来投诉，张伟说李娜的订单丢了"
    assert redact(text, ["张伟", "李娜"]) == "張*和李*一起来投诉，张*说李*的订单丢了"
    assert redact(text, []) == text


def test_one_character_names_are_not_masked_as_words() -> None:
    assert redact("我要退款，林说过", ["林"]) == "我要退款，林说过"


def test_full_width_punctuation_and_other_text_keep_their_characters() -> None:
    text = "（急）１２月３日：电话１３８－１２３４－５６７８！"
    assert redact(text) == "（急）１２月３日：电话138****5678！"


def test_no_form_of_a_personal_value_survives(seed: int) -> None:
    """Random spellings of one consumer's details, mixed into text, never come out readable."""
    rng = random.Random(seed)
    phone, id_number, email = "13812345678", "110105194912310021", "mei.lin@example.cn"
    spellings = [
        phone,
        "138 1234 5678",
        "138-1234-5678",
        "+8613812345678",
        "0086 138 1234 5678",
        "".join(chr(ord(c) + 0xFEE0) for c in phone),  # full width
        id_number,
        "110105 19491231 0021",
        email,
        email.upper(),
        NAME,
        "林美華",
    ]
    fillers = ["我的", "联系方式：", "，", "请尽快处理", "退款", "谢谢"]
    for _ in range(200):
        parts = [rng.choice(spellings) + rng.choice(fillers) for _ in range(6)]
        out = fold(redact("".join(parts), [NAME]))
        assert all("1234" not in run for run in re.findall(r"[0-9]+", out)), out
        for value in (phone, id_number, email, "林美华", "美华"):
            assert fold(value) not in out


def test_redaction_is_deterministic_and_fields_share_the_names() -> None:
    fields = {"reason": "林美华不接受，电话13812345678", "counter_kind": "退款"}
    once = redact_fields(fields, [NAME])
    assert once == redact_fields(fields, [NAME])
    assert once == {"reason": "林**不接受，电话138****5678", "counter_kind": "退款"}
