"""Routing's SLA ops HTTP routes (`api.py`)."""
