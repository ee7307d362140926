"""Compensation's ops HTTP API (approvals, findings, fulfilment)."""
