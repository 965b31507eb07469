"""t5spec.align."""
