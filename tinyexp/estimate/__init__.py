"""Latency without a board: one estimator, a per-operator cost model fitted to published
measurements of rebuilt networks (per_operator.estimate_operators; docs/estimate.md)."""
