"""docqa benchmarks: `docqa bench` (see bench/README.md)."""
