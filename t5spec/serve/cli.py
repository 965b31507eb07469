"""``t5spec serve --checkpoint=DIR``: the OpenAI-compatible server on a port (uvicorn)."""

from __future__ import annotations

import argparse
import os

from t5spec.serve.api import create_app
from t5spec.serve.engine import ServeConfig, load_engine

# Run as the ``t5spec`` program, the process first re-executes itself with glibc's huge-page
# settings for XLA's buffers, as the lab's served teacher runs (t5spec/cli.py;
# t5spec/hugepages.py; T5SPEC_HUGE_PAGES=0 to run without).
REEXEC_WITH_HUGE_PAGES = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="T5X checkpoint directory")
    parser.add_argument("--vocab", help="SentencePiece model (default: the data dir's "
                        "t5_vocab/spiece.model)")
    parser.add_argument("--data_dir", help="raw-data root (default $T5SPEC_DATA_DIR)")
    parser.add_argument("--model_name", help="model id clients send (default: checkpoint name)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max_tokens", type=int, default=256, help="largest max_tokens")
    parser.add_argument("--max_input_tokens", type=int, default=1024)
    parser.add_argument("--max_batch", type=int, default=32,
                        help="rows per decode; for C clients in a closed loop, C/2 overlaps "
                             "one half's HTTP turnaround with the other's decode "
                             "(docs/benchmarks.md: +17%% tokens/s at C = 32)")
    parser.add_argument("--min_batch", type=int, default=1,
                        help="pad decode batches to at least this many rows")
    parser.add_argument("--min_input_tokens", type=int, default=16,
                        help="pad encoder inputs to at least this many tokens; with "
                        "--min_batch=--max_batch every decode has one shape and a seeded "
                        "row's log-probs are bit-identical however it is batched")
    parser.add_argument("--batch_wait_ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the seeds of requests that send none")


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    """The :class:`ServeConfig` of parsed ``t5spec serve`` flags."""
    name = args.model_name or os.path.basename(os.path.normpath(args.checkpoint))
    return ServeConfig(model_name=name, max_tokens=args.max_tokens,
                       max_input_tokens=args.max_input_tokens, max_batch=args.max_batch,
                       min_batch=args.min_batch, batch_wait_ms=args.batch_wait_ms,
                       seed=args.seed, min_input_tokens=args.min_input_tokens)


def run(args: argparse.Namespace) -> int:
    """Loads the checkpoint, then serves until interrupted."""
    import uvicorn

    from t5spec import paths

    vocab = args.vocab or paths.t5_vocab_path(args.data_dir)
    engine = load_engine(args.checkpoint, vocab)
    config = config_from_args(args)
    name = config.model_name
    print(f"t5spec serve: model {name!r} at http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(create_app(engine, config), host=args.host, port=args.port, log_level="warning")
    return 0
