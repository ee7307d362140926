"""A brand's remedy policy over HTTP (ops): load and read."""
