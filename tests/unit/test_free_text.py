"""Intake's free text as recorded: redacted, and only the originals redaction changed sealed."""

from __future__ import annotations

from services.intake.free_text import ProtectedText, protect, text_aad


def test_only_the_fields_redaction_changed_are_sealed_and_none_is_recorded_for_none() -> None:
    sealed: list[tuple[str, str]] = []

    def seal(place: str, original: str) -> str:
        sealed.append((place, original))
        return f"sealed<{place}>"

    texts = {"description": "冰箱不制冷，我是王建国，电话13900001111", "corrections.x": "国美"}
    protected = protect(texts, ["王建国"], seal)
    assert protected.redacted == {
        "description": "冰箱不制冷，我是王**，电话139****1111",
        "corrections.x": "国美",
    }
    assert sealed == [("description", texts["description"])]
    assert protected.sealed_or_none() == {"description": "sealed<description>"}
    assert ProtectedText({"reason": "已解决"}).sealed_or_none() is None


def test_a_sealed_original_is_bound_to_its_subject_complaint_and_place() -> None:
    assert text_aad("s-1", "c-1", "description") == "s-1:text:c-1:description"
    assert text_aad("s-1", "c-1", "description") != text_aad("s-1", "c-2", "description")
