"""Text folding: one form for matching, whatever the script, width or case [issue 18].

The seeds are written in traditional characters [000–004]; merchants keep their name in
either script [DOMAIN.md: "groups and duplicates follow the alias, in simplified or
traditional script"; 003 会所更名: 上海海蘭雲天花園式浴場].
"""

from __future__ import annotations

import random
import threading

from services.intake.policies import MatchKeys, group_key, matched_fields, normalise_key
from shared.textfold import FoldedText, fold, fold_key, to_simplified

BATH_HOUSE_TRADITIONAL = "上海海蘭雲天花園式浴場"  # [003 line 4]
BATH_HOUSE_SIMPLIFIED = "上海海兰云天花园式浴场"


def test_traditional_and_simplified_fold_to_the_same_text_003() -> None:
    assert fold(BATH_HOUSE_TRADITIONAL) == fold(BATH_HOUSE_SIMPLIFIED) == BATH_HOUSE_SIMPLIFIED
    # The list of words that matched nothing, as the seeds write them.
    words = "過敏 質量 維修 會員卡 預付 快遞 價格 態度"
    assert fold(words) == "过敏 质量 维修 会员卡 预付 快递 价格 态度"


def test_width_and_case_are_folded_too() -> None:
    assert fold("ＲＵＤＥ Staff，１２３") == "rude staff,123"
    assert fold("Straße") == "strasse"


def test_ascii_text_is_not_sent_to_the_converter() -> None:
    assert to_simplified("plain ascii text") == "plain ascii text"


def test_folding_keeps_the_length_so_matches_point_back_at_what_was_written() -> None:
    text = FoldedText.of("洗髮水使用後頭皮過敏，起了紅疹")
    assert text.folded == "洗发水使用后头皮过敏,起了红疹"
    assert text.as_written("过敏") == "過敏"
    assert text.as_written("红疹") == "紅疹"
    assert text.as_written("烫伤") == "烫伤"  # not in the text: the folded word


def test_a_text_whose_folding_changes_its_length_still_matches_but_names_the_folded_word() -> None:
    text = FoldedText.of("㈱過敏")  # NFKC: ㈱ -> (株), three characters
    assert "过敏" in text.folded
    assert text.as_written("过敏") == "過敏"


def test_one_converter_serves_many_threads_with_identical_results(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "海蘭雲天過敏質量維修會員卡預付快遞價格態度燙傷觸電abcＡＢＣ，"
    samples = ["".join(rng.choice(alphabet) for _ in range(60)) for _ in range(50)]
    expected = [fold(s) for s in samples]
    wrong: list[str] = []

    def work() -> None:
        for _ in range(40):
            for sample, folded in zip(samples, expected, strict=True):
                if fold(sample) != folded:
                    wrong.append(sample)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_fold_key_is_fold_cached() -> None:
    assert fold_key(BATH_HOUSE_TRADITIONAL) == fold(BATH_HOUSE_TRADITIONAL)
    assert fold_key(BATH_HOUSE_TRADITIONAL) is fold_key(BATH_HOUSE_TRADITIONAL)


# --- intake's merchant, group and duplicate keys ------------------------------------------


def test_a_merchant_in_either_script_is_one_merchant_003() -> None:
    assert normalise_key("海蘭雲天 花園式浴場") == normalise_key("海兰云天花园式浴场")


def test_a_group_gathers_on_the_merchant_in_either_script_003() -> None:
    product = {"category": "預付卡 prepaid card"}
    traditional = group_key({"merchant": "海蘭雲天花園式浴場"}, product)
    simplified = group_key({"merchant": "海兰云天 花园式浴场"}, {"category": "预付卡 prepaid card"})
    assert traditional is not None
    assert traditional == simplified


def test_a_repeat_naming_the_merchant_in_the_other_script_is_a_duplicate() -> None:
    first = MatchKeys.of({"merchant": "蘇寧易購"}, {"model": "BCD-470"})
    again = MatchKeys.of({"merchant": "苏宁易购"}, {"model": "bcd-470"})
    assert matched_fields(again, first) == ["consumer.phone", "order.merchant", "product.model"]
