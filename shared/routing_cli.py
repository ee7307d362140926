"""`aftersales routing roster load --brand B FILE` / `show --brand B`: a brand's roster.

Talks to routing's ops API with an admin token minted from the settings (as the other
admin commands do); the roster file is the JSON document `PUT /v1/ops/brands/{brand}/roster`
takes (services/routing/roster.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.ops_tokens import cli_token
from shared.settings import DEFAULT_PORTS, load_settings


def cmd_roster(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    url = f"{args.url.rstrip('/')}/v1/ops/brands/{args.brand}/roster"
    headers = {"Authorization": f"Bearer {cli_token(settings)}"}
    if args.action == "load":
        try:
            document: Any = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"aftersales: cannot read {args.file}: {error}", file=sys.stderr)
            return 2
        response = httpx.put(url, headers=headers, json=document, timeout=10)
    else:
        response = httpx.get(url, headers=headers, timeout=10)
    if response.status_code >= 400:
        print(f"aftersales: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
    return 0


def add_routing_parser(sub: Any) -> argparse.ArgumentParser:
    """`aftersales routing ...`; returns the `routing` parser's subcommands' action, so other
    routing commands can be added next to `roster`."""
    routing = sub.add_parser("routing", help="routing's data: rosters per brand")
    commands = routing.add_subparsers(dest="routing_command", required=True)
    roster = commands.add_parser("roster", help="load or show a brand's roster (teams, chain)")
    actions = roster.add_subparsers(dest="action", required=True)
    url = f"http://127.0.0.1:{DEFAULT_PORTS['routing']}"
    load = actions.add_parser("load", help="load a roster JSON document for the brand")
    load.add_argument("--brand", required=True)
    load.add_argument("file", type=Path, help="the roster JSON (PUT /v1/ops/brands/{b}/roster)")
    load.add_argument("--url", default=url)
    load.set_defaults(run=cmd_roster)
    show = actions.add_parser("show", help="show the brand's roster (the default until loaded)")
    show.add_argument("--brand", required=True)
    show.add_argument("--url", default=url)
    show.set_defaults(run=cmd_roster, file=None)
    parser: argparse.ArgumentParser = routing
    return parser
