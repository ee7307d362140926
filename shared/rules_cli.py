"""`aftersales routing rules load|show --brand B`: a brand's routing rules, over routing's API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.ops_tokens import cli_token
from shared.settings import DEFAULT_PORTS, load_settings


def cmd_routing_rules(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    url = f"{args.url.rstrip('/')}/v1/ops/brands/{args.brand}/routing-rules"
    headers = {"Authorization": f"Bearer {cli_token(settings, brands=(args.brand,))}"}
    if args.rules_command == "load":
        try:
            document = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"aftersales: cannot read {args.file}: {error}", file=sys.stderr)
            return 1
        response = httpx.put(url, headers=headers, json=document, timeout=10)
    else:
        response = httpx.get(url, headers=headers, timeout=10)
    if response.status_code >= 400:
        print(f"aftersales: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
    return 0


def add_routing_parser(sub: Any) -> None:
    """`routing rules load --brand B FILE` and `routing rules show --brand B`."""
    routing = sub.add_parser("routing", help="routing's data per brand (routing rules --help)")
    routing_sub = routing.add_subparsers(dest="routing_command", required=True)
    rules = routing_sub.add_parser("rules", help="a brand's classification rules document")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    routing_url = f"http://127.0.0.1:{DEFAULT_PORTS['routing']}"
    load = rules_sub.add_parser("load", help="load a rules document (JSON) as the brand's rules")
    load.add_argument("file", type=Path)
    show = rules_sub.add_parser("show", help="print the brand's current rules and their version")
    for command in (load, show):
        command.add_argument("--brand", required=True)
        command.add_argument("--url", default=routing_url, help="routing's base URL")
        command.set_defaults(run=cmd_routing_rules)
