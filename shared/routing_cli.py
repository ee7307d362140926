"""`aftersales routing sla load --brand B FILE` / `show --brand B`: a brand's SLA policy over
routing's ops API (PUT/GET /v1/ops/brands/{brand}/sla-policy), as an all-brands admin."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from shared.ops_tokens import cli_token
from shared.settings import DEFAULT_PORTS, load_settings


def cmd_routing_sla(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    url = f"{args.url.rstrip('/')}/v1/ops/brands/{args.brand}/sla-policy"
    headers = {"Authorization": f"Bearer {cli_token(settings)}"}
    if args.action == "load":
        try:
            document = json.loads(args.file.read_text(encoding="utf-8"))
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
    """`routing sla load|show` under the CLI's subcommands."""
    from pathlib import Path

    routing = sub.add_parser("routing", help="routing's data: SLA policies (routing sla --help)")
    routing_sub = routing.add_subparsers(dest="routing_command", required=True)
    sla = routing_sub.add_parser("sla", help="load or show a brand's SLA policy (JSON file)")
    sla.add_argument("action", choices=["load", "show"])
    sla.add_argument("file", nargs="?", type=Path, help="the policy document (load)")
    sla.add_argument("--brand", required=True)
    sla.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORTS['routing']}")
    sla.set_defaults(run=cmd_routing_sla)
