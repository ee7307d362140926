"""What the ops console shows of a dead letter: its brand and an error without payload values."""

from __future__ import annotations

import json

import pytest

from shared.contracts import ContractError, parse_contract
from shared.dead_letters import PROCESSING_FAILED, brand_of_subject, public_error, safe_reason

PHONE = "13812345678"


def _contract_error(data: bytes) -> ContractError:
    with pytest.raises(ContractError) as caught:
        parse_contract(data)
    return caught.value


def test_a_payload_that_breaks_its_contract_is_named_by_field_never_by_value() -> None:
    envelope = {"type": "ComplaintReceived", "payload": {PHONE: PHONE}}
    error = _contract_error(json.dumps(envelope).encode())
    assert PHONE in str(error)  # what used to be recorded and shown
    reason = safe_reason(error)
    assert PHONE not in reason
    assert reason.startswith("ContractError: not a contract event (fields: ")
    assert public_error(reason) == reason


def test_other_errors_show_their_type_and_a_fixed_reason() -> None:
    assert safe_reason(KeyError(PHONE)) == f"KeyError: {PROCESSING_FAILED}"
    shown = public_error(safe_reason(ValueError(f"bad {PHONE}")))
    assert shown == f"ValueError: {PROCESSING_FAILED}"


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        (f"KeyError('{PHONE}')", f"KeyError: {PROCESSING_FAILED}"),
        (
            f"payload of ComplaintReceived is not valid: input_value='{PHONE}'",
            "ContractError: the payload does not match its contract",
        ),
        (f"not a contract event: {PHONE}", "ContractError: not a contract event"),
        (f"ValueError: {PHONE}", f"Error: {PROCESSING_FAILED}"),
        (
            f"ValueError: {PROCESSING_FAILED} (fields: x '{PHONE}')",
            f"Error: {PROCESSING_FAILED}",
        ),
    ],
)
def test_letters_recorded_before_the_rule_are_shown_through_the_same_vocabulary(
    recorded: str, shown: str
) -> None:
    assert public_error(recorded) == shown
    assert PHONE not in public_error(recorded)


@pytest.mark.parametrize(
    ("subject", "brand"),
    [
        ("intake.acme.5d0c6a8e-1f2b-4c3d-9e8f-7a6b5c4d3e2f.ComplaintReceived", "acme"),
        ("routing.globex.x.HandlerAssigned", "globex"),
        ("intake.acme", None),
        ("garbage", None),
    ],
)
def test_the_brand_of_a_dead_letter_is_the_second_token_of_its_subject(
    subject: str, brand: str | None
) -> None:
    assert brand_of_subject(subject) == brand
