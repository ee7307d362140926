"""`aftersales calendar`: load a year the State Council published, show the years known, count
working days — over each service's calendar API (`shared/calendar_api.py`).

A year file is JSON as one year of `shared/data/china_workdays.json`:
`{"holidays": {"2027-01-01": "New Year's Day", ...} or [...], "workdays": [...], "source": "..."}`
(`workdays`: the weekend days worked, 调休; `source` optional, `--source` overrides it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx

from shared.settings import DEFAULT_PORTS, SERVICES

# The services that count working days (compensation does not).
CALENDAR_SERVICES = ("intake", "routing", "followup")


class CalendarCliError(Exception):
    """A file or an argument the command cannot use (exit status 2)."""


def read_year_file(path: Path, source: str | None) -> dict[str, Any]:
    """The PUT body for a year file: its holidays and workdays, and where it comes from."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CalendarCliError(f"{path}: {error.strerror or error}") from None
    except ValueError as error:
        raise CalendarCliError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, dict) or "holidays" not in data:
        raise CalendarCliError(f'{path}: expected {{"holidays": ..., "workdays": ...}}')
    stated = data.get("source")
    return {
        "holidays": data["holidays"],
        "workdays": data.get("workdays", []),
        "source": source or (stated if isinstance(stated, str) and stated else f"file {path.name}"),
    }


def service_urls(args: argparse.Namespace) -> dict[str, str]:
    """Each calendar service's base URL: `--url SERVICE=URL`, else 127.0.0.1 on the ports of
    `--port-base` (as `aftersales up --port-base`), else the default ports."""
    base = args.port_base
    port = {s: base + i for i, s in enumerate(SERVICES, start=1)} if base else DEFAULT_PORTS
    urls = {s: f"http://127.0.0.1:{port[s]}" for s in CALENDAR_SERVICES}
    for given in args.url or ():
        service, _, url = given.partition("=")
        if service not in CALENDAR_SERVICES or not url.startswith(("http://", "https://")):
            raise CalendarCliError(
                f"--url {given!r}: SERVICE=URL, SERVICE one of {', '.join(CALENDAR_SERVICES)}"
            )
        urls[service] = url.rstrip("/")
    return urls


def chosen(service: str) -> tuple[str, ...]:
    return CALENDAR_SERVICES if service == "all" else (service,)


def load(
    urls: Mapping[str, str],
    services: tuple[str, ...],
    year: int,
    body: dict[str, Any],
    token: str,
    out: TextIO,
) -> int:
    """PUT the year to each service in turn, saying how each went; 0 only if every one took it."""
    failed = []
    for number, service in enumerate(services, start=1):
        out.write(f"[{number}/{len(services)}] {service:<9} ")
        out.flush()
        try:
            response = httpx.put(
                f"{urls[service]}/v1/calendar/years/{year}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
        except httpx.HTTPError as error:
            out.write(f"unreachable: {error}\n")
            failed.append(service)
            continue
        if response.status_code in (200, 201):
            answer = response.json()
            done = "loaded" if answer["recorded"] else "already held these days"
            out.write(f"{done} (calendar {answer['calendar_version']})\n")
        else:
            out.write(f"refused: {response.status_code} {_problem(response)}\n")
            failed.append(service)
    ok = len(services) - len(failed)
    missing = f"; not on {', '.join(failed)} (loading is idempotent: re-run)" if failed else ""
    out.write(f"{year}: {ok} of {len(services)} services have it{missing}\n")
    return 1 if failed else 0


def show(urls: Mapping[str, str], services: tuple[str, ...], token: str, out: TextIO) -> int:
    """Print each service's years and their sources."""
    code = 0
    for service in services:
        response = _get(f"{urls[service]}/v1/calendar/years", token)
        if response is None or response.status_code != 200:
            out.write(f"{service}: {_status(response)}\n")
            code = 1
            continue
        known = response.json()
        years = known["years"]
        out.write(f"{service}: calendar {known['calendar_version']}, {len(years)} years\n")
        for entry in years:
            if entry["origin"] == "loaded":
                out.write(
                    f"  {entry['year']}  loaded {entry['loaded_at']} by {entry['loaded_by']}: "
                    f"{entry['source']}\n"
                )
        packaged = [str(e["year"]) for e in years if e["origin"] == "packaged"]
        if packaged:
            out.write(f"  packaged {packaged[0]}–{packaged[-1]}: {years[0]['source']}\n")
        out.write(f"  other years: {known['other_years']}\n")
    return code


def count(url: str, start: str, end: str, token: str, out: TextIO) -> int:
    """Print the working days from `start` to `end` (both included) and the data used."""
    response = _get(f"{url}/v1/calendar/working-days", token, {"from": start, "to": end})
    if response is None or response.status_code != 200:
        out.write(f"aftersales calendar: {_status(response)}\n")
        return 1
    answer = response.json()
    for day in answer["working_days"]:
        out.write(f"{day}\n")
    bases = ", ".join(f"{y['year']} {y['basis']}" for y in answer["years"])
    out.write(f"{answer['count']} working days from {start} to {end} ({bases})\n")
    return 0


def _get(url: str, token: str, params: dict[str, str] | None = None) -> httpx.Response | None:
    try:
        return httpx.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError:
        return None


def _status(response: httpx.Response | None) -> str:
    return "unreachable" if response is None else f"{response.status_code} {_problem(response)}"


def _problem(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return response.text[:300]
    detail = problem.get("detail") if isinstance(problem, dict) else None
    errors = problem.get("errors") if isinstance(problem, dict) else None
    more = f" ({len(errors)} problems)" if isinstance(errors, list) and len(errors) > 1 else ""
    return f"{detail or response.reason_phrase}{more}"


def cmd_calendar(args: argparse.Namespace) -> int:
    from shared.ops_tokens import cli_token
    from shared.settings import load_settings

    try:
        urls = service_urls(args)
        body = read_year_file(args.file, args.source) if args.action == "load" else None
    except CalendarCliError as error:
        print(f"aftersales calendar: {error}", file=sys.stderr)
        return 2
    token = cli_token(load_settings(check_secrets=False))
    if args.action == "load":
        assert body is not None
        return load(urls, chosen(args.service), args.year, body, token, sys.stdout)
    if args.action == "show":
        return show(urls, chosen(args.service), token, sys.stdout)
    service = "intake" if args.service == "all" else args.service
    return count(urls[service], args.start, args.end, token, sys.stdout)


def _year(text: str) -> int:
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise argparse.ArgumentTypeError("a year from 2000 to 2100")
    return int(text)


def add_calendar_parser(sub: Any) -> None:
    """`calendar load|show|working-days` under the CLI's subcommands."""
    calendar = sub.add_parser(
        "calendar", help="the working-day calendar: load a year, show years, count days"
    )
    actions = calendar.add_subparsers(dest="action", required=True)
    load_year = actions.add_parser(
        "load", help="load a year (JSON file) into every service that counts working days"
    )
    load_year.add_argument("--year", type=_year, required=True)
    load_year.add_argument("file", type=Path, help='{"holidays": ..., "workdays": [...]}')
    load_year.add_argument("--source", help="where the dates come from (default: the file's)")
    show_years = actions.add_parser("show", help="the years each service knows, and sources")
    days = actions.add_parser("working-days", help="the working days from FROM to TO")
    days.add_argument("start", metavar="FROM", help="YYYY-MM-DD (included)")
    days.add_argument("end", metavar="TO", help="YYYY-MM-DD (included)")
    for action in (load_year, show_years, days):
        action.add_argument("--service", choices=("all", *CALENDAR_SERVICES), default="all")
        action.add_argument("--port-base", type=int, default=None, help="as `up --port-base`")
        action.add_argument("--url", action="append", help="SERVICE=URL (repeatable)")
        action.set_defaults(run=cmd_calendar)
