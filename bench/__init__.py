"""Benchmark programs for the sops engine and HTTP API (see docs/benchmarks.md)."""
