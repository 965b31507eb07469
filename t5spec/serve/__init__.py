"""``t5spec serve``: a T5X checkpoint behind an OpenAI-compatible completions API.

Endpoints (127.0.0.1 unless ``--host`` says otherwise):

* ``POST /v1/completions`` — ``model``, ``prompt`` (a string or a list of strings),
  ``max_tokens``, ``temperature`` (0 = greedy), ``top_p``, ``n``, ``logprobs`` (0–5), ``stop``,
  ``seed`` (choice ``i`` draws with ``seed + i``, whatever it is batched with; see
  :mod:`~t5spec.serve.api`). ``logprobs`` come in OpenAI's legacy format: ``tokens``,
  ``token_logprobs``, ``top_logprobs`` (one ``{token: logprob}`` per token: the ``logprobs``
  most likely distinct strings, plus the sampled token when it is not among them — "up to
  logprobs+1", as OpenAI documents) and ``text_offset`` (character offsets counted from the
  start of the prompt). Log-probs are the model's own (temperature 1, unfiltered), natural
  log. Scoring: ``echo: true, max_tokens: 0, logprobs: k`` with ``decoder_prompt`` (the text
  to score; ``prompt`` stays the encoder input) echoes the decoder side with every token's
  teacher-forced log-prob and top-k, the decoder start token first with ``null`` (see
  :mod:`~t5spec.serve.api`). ``stream``, ``suffix`` and ``best_of`` are refused.
* ``GET /v1/models`` and ``GET /health``.

The package, one layer per module (each imports only those above it):

* :mod:`~t5spec.serve.engine` — :class:`ServeConfig`, :class:`Row`, :class:`Engine` (tokenizer
  + :class:`t5spec.models.decoding.Decoder`; one batch of rows to OpenAI choices; echo rows
  scored by :mod:`t5spec.models.scoring`; token strings from :mod:`t5spec.tokenization`),
  :func:`load_engine`.
* :mod:`~t5spec.serve.batcher` — :class:`Batcher`: rows of concurrent requests decoded
  together (shapes padded to powers of two so only a few programs compile).
* :mod:`~t5spec.serve.api` — request validation, OpenAI-style errors (400 for invalid fields
  or malformed JSON, 404 for an unknown model, 429 when the queue is full), the FastAPI app
  (:func:`create_app`) and :class:`ServerThread` (a server in a thread, for tests, benchmarks
  and the lab).
* :mod:`~t5spec.serve.cli` — the ``t5spec serve`` command.
"""

from t5spec.serve.api import ServerThread, create_app
from t5spec.serve.batcher import Batcher
from t5spec.serve.engine import Engine, Row, ServeConfig, load_engine

__all__ = ["Batcher", "Engine", "Row", "ServeConfig", "ServerThread", "create_app",
           "load_engine"]
