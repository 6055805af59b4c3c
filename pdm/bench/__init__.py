"""Benchmarks on public labelled data (SKAB)."""
