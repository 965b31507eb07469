"""Teacher sampling: chain-of-thought samples with per-token top-k log-probs from any
OpenAI-compatible API, stored as resumable append-only JSONL shards.

Modules, in data-flow order:
  ``client``      async client on the ``openai`` SDK: retries with backoff + jitter, fail-fast
                  errors, rate limit (``ratelimit``).
  ``normalize``   completions / chat bodies → choices with tokens and top-k; validity rules.
  ``sampler``     the bounded-concurrency run: every missing (question, sample) exactly once.
  ``store``       manifest + append-only shards; torn-tail repair; one writer at a time.
  ``filtering``   answer judging (the paper's answer-line cut) and store statistics.
  ``estimate``    tiktoken token / cost estimate, offline encodings.
  ``scorer``      the scoring run: the teacher's echo log-probs of given (student) texts.
  ``cli``         ``t5spec teacher sample|stats|score`` (``score_cli``: ``score``).
  ``stub_server`` a deterministic local stand-in teacher for tests and benchmarks.
The record itself (:class:`~t5spec.teacher.record.TeacherSample`) is the contract with
``t5spec.align``.
"""
