"""Latency without a board: v1 (tinyexp.estimate.latency, one formula per source) and v2, a
per-operator cost model fitted to published measurements of rebuilt networks."""
