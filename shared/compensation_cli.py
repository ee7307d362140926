"""`aftersales compensation policy load|show --brand B [FILE]`: a brand's remedy policy.

The remedy policy (三包 periods, statutory damages, parcel cap, goodwill catalogue, apology
templates) is a versioned JSON document compensation keeps per brand, loaded through its
ops API (`PUT /v1/ops/brands/{brand}/remedy-policy`) with a token minted from the settings
for that brand, as the other admin commands do. Every decision records the version it used.
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

PATH = "remedy-policy"


def cmd_policy(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    url = f"{args.url.rstrip('/')}/v1/ops/brands/{args.brand}/{PATH}"
    headers = {"Authorization": f"Bearer {cli_token(settings, brands=(args.brand,))}"}
    try:
        if args.action == "load":
            try:
                document: Any = json.loads(Path(args.file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                print(f"aftersales: cannot read {args.file}: {error}", file=sys.stderr)
                return 2
            response = httpx.put(url, headers=headers, json=document, timeout=10)
        else:
            response = httpx.get(url, headers=headers, timeout=10)
    except httpx.HTTPError as error:
        print(f"aftersales: cannot reach compensation at {args.url}: {error}", file=sys.stderr)
        return 1
    if response.status_code >= 400:
        print(f"aftersales: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
    return 0


def add_compensation_parser(sub: Any) -> None:
    """`aftersales compensation policy load --brand B FILE` and `... show --brand B`."""
    compensation = sub.add_parser("compensation", help="compensation's data per brand: policy")
    commands = compensation.add_subparsers(dest="compensation_command", required=True)
    url = f"http://127.0.0.1:{DEFAULT_PORTS['compensation']}"
    policy = commands.add_parser(
        "policy", help="a brand's remedy policy: 三包, statutory damages, goodwill, apology"
    )
    actions = policy.add_subparsers(dest="action", required=True)
    load = actions.add_parser("load", help=f"load a JSON document (PUT …/{PATH})")
    load.add_argument("file", type=Path)
    show = actions.add_parser("show", help="print the brand's policy and its version")
    show.set_defaults(file=None)
    for command in (load, show):
        command.add_argument("--brand", required=True)
        command.add_argument("--url", default=url, help="compensation's base URL")
        command.set_defaults(run=cmd_policy)
