"""What the bench sends is valid and new: every body passes intake's own models."""

from __future__ import annotations

import json
from itertools import islice

from bench.workload import complaint_bodies, phone, post_requests, transfer
from services.intake.schemas import NewComplaint, RegulatorTransfer


def test_complaint_bodies_are_valid_and_distinct_consumers() -> None:
    bodies = list(islice(complaint_bodies(7), 500))
    complaints = [NewComplaint.model_validate_json(body) for body in bodies]
    assert len({c.consumer.phone for c in complaints}) == 500
    assert len({c.order.merchant for c in complaints}) == 500
    assert complaints[0].consumer.phone == "+86" + phone(7, 0)


def test_runs_do_not_share_consumers() -> None:
    first = {phone(1, n) for n in range(1000)}
    second = {phone(2, n) for n in range(1000)}
    assert not first & second


def test_post_requests_carry_the_key_and_an_exact_content_length() -> None:
    request = next(post_requests("127.0.0.1:9", "key_1", complaint_bodies(3)))
    head, body = request.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /v1/complaints HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert b"X-Api-Key: key_1" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["channel"] == "web"


def test_transfers_are_valid_regulator_transfers() -> None:
    found = RegulatorTransfer.model_validate(transfer(4, 12, "bench-bulk"))
    assert found.transfer_number == "B4-12"
    assert found.brand_id == "bench-bulk"
