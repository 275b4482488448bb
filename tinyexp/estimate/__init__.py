"""Latency without a board: v1 (tinyexp.latency, one formula per source) and v2, a
per-operator cost model fitted to published measurements of rebuilt networks."""
