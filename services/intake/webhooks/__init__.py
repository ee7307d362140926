"""Webhooks to brand portals: subscriptions, exactly-once fan-out, signed retried deliveries.

The consumer step records a `WebhookDelivery` per matching subscription (with the event's
tracking position); a background worker POSTs due deliveries, signed, and records every
attempt, retrying with jittered backoff for 24 h. The event flow never waits for a brand.

Rooms: `policy` (backoff, pure), `domain` (aggregates), `delivery_log` (read model),
`service` (use cases), `targets` (public endpoints only: shared/netguard.py's guard),
`worker` (the delivery loop), `api` (the router).
"""
