"""`aftersales calendar`: its arguments, and a year file read as the packaged data's format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import cli
from shared.calendar import PACKAGED_DATA
from shared.calendar_cli import CalendarCliError, read_year_file, service_urls


def test_load_takes_a_year_a_file_a_service_and_the_ports_of_up() -> None:
    args = cli.parser().parse_args(
        ["calendar", "load", "--year", "2027", "y.json", "--service", "routing", "--port-base",
         "15000"]
    )  # fmt: skip
    assert (args.action, args.year, args.file, args.service) == (
        "load", 2027, Path("y.json"), "routing"
    )  # fmt: skip
    assert service_urls(args)["routing"] == "http://127.0.0.1:15002"
    assert service_urls(cli.parser().parse_args(["calendar", "show"]))["followup"] == (
        "http://127.0.0.1:8004"
    )


def test_working_days_takes_from_and_to_and_asks_intake_by_default() -> None:
    args = cli.parser().parse_args(["calendar", "working-days", "2026-09-14", "2026-10-11"])
    assert (args.start, args.end, args.service) == ("2026-09-14", "2026-10-11", "all")


@pytest.mark.parametrize(
    "argv",
    [
        ["calendar", "load", "--year", "27", "y.json"],
        ["calendar", "load", "y.json"],
        ["calendar", "show", "--service", "compensation"],  # it counts no working days
    ],
    ids=["two-digit-year", "no-year", "not-a-calendar-service"],
)
def test_arguments_the_command_cannot_use_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(argv)


def test_a_url_must_name_a_calendar_service() -> None:
    args = cli.parser().parse_args(["calendar", "show", "--url", "compensation=http://x"])
    with pytest.raises(CalendarCliError, match="SERVICE=URL"):
        service_urls(args)


def test_a_year_of_the_packaged_data_is_a_year_file(tmp_path: Path) -> None:
    packaged = json.loads(PACKAGED_DATA.read_text(encoding="utf-8"))["years"]["2026"]
    path = tmp_path / "2026.json"
    path.write_text(json.dumps(packaged, ensure_ascii=False), encoding="utf-8")
    body = read_year_file(path, None)
    assert body["holidays"]["2026-10-01"] == "National Day"
    assert body["workdays"]["2026-09-20"] == "National Day"
    assert body["source"] == "file 2026.json"
    assert read_year_file(path, "国务院办公厅通知")["source"] == "国务院办公厅通知"


@pytest.mark.parametrize(
    ("content", "why"),
    [("{", "not JSON"), ('["2027-01-01"]', "expected"), ('{"workdays": []}', "expected")],
)
def test_a_file_that_is_not_a_year_is_refused_saying_why(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarCliError, match=why):
        read_year_file(path, None)
    with pytest.raises(CalendarCliError, match=r"missing\.json"):
        read_year_file(tmp_path / "missing.json", None)
