"""t5spec.data."""
