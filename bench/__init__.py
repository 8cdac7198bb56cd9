"""Benchmark harness for staticship (see bench/README.md)."""
