"""Teacher sampling: chain-of-thought samples with per-token top-k log-probs from any
OpenAI-compatible API, stored as resumable append-only JSONL shards."""
