"""``t5spec teacher score``: the teacher's log-probs of texts it did not write, as teacher records.

Example (the lab's teacher behind ``t5spec serve``, an encoder-decoder model)::

    t5spec teacher score --base_url=http://127.0.0.1:8000/v1 --model=lab-teacher \\
        --echo=decoder_prompt --texts=runs/onpolicy/round1/student.jsonl \\
        --prompt_id=prompt_lab --data_dir=DATA --output=runs/onpolicy/round1/scored

The input schema, the records and which servers can score are in
:mod:`t5spec.teacher.scorer`. Re-running the same command resumes (only missing texts are
asked). Exit status: 0 every text stored, 1 some failed after retries (run again), 2 bad input
or a teacher that refuses the run (wrong URL, model or key).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    teacher = p.add_argument_group("teacher")
    teacher.add_argument("--base_url", required=True, help="e.g. http://127.0.0.1:8000/v1")
    teacher.add_argument("--model", required=True)
    teacher.add_argument("--echo", choices=("prompt", "decoder_prompt"), default="prompt",
                         help="prompt: send prompt+text (decoder-only teachers: OpenAI, vLLM); "
                         "decoder_prompt: prompt to the encoder, text as decoder_prompt "
                         "(encoder-decoder teachers: t5spec serve)")
    teacher.add_argument("--api_key_env", default=None, metavar="NAME",
                         help="environment variable holding the key (default OPENAI_API_KEY; "
                         "a variable named here must be set)")
    teacher.add_argument("--api_key_file", help="file whose first line is the key")
    data = p.add_argument_group("texts")
    data.add_argument("--texts", required=True, help="JSONL of {question_id, sample_index, "
                      "question, continuation[, gold]}")
    data.add_argument("--data_dir", help="raw data root (default $T5SPEC_DATA_DIR)")
    data.add_argument("--prompt_id", default="prompt_complex",
                      help="lib_prompt/<id>.txt teacher prompt each question is put in")
    data.add_argument("--top_logprobs", type=int, default=5)
    sched = p.add_argument_group("scheduling")
    sched.add_argument("--concurrency", type=int, default=16)
    sched.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    sched.add_argument("--max_retries", type=int, default=8)
    sched.add_argument("--retry_base", type=float, default=0.5, help="first backoff, seconds")
    sched.add_argument("--requests_per_minute", type=float)
    sched.add_argument("--tokens_per_minute", type=float)
    out = p.add_argument_group("output")
    out.add_argument("--output", required=True, help="store directory (created; resumed)")
    out.add_argument("--fsync", choices=("interval", "always", "never"), default="interval")
    out.add_argument("--no_progress", action="store_true")


def run(args: argparse.Namespace, api_key: str) -> int:
    """Validates the input, then scores what the store lacks (see module docstring)."""
    from t5spec.data import formats
    from t5spec.errors import InputError
    from t5spec.teacher import cli_run, scorer

    for name, low in (("top_logprobs", 0), ("concurrency", 1), ("max_retries", 0)):
        if getattr(args, name) < low:
            raise InputError(None, f"--{name} must be at least {low}", field=name)
    if args.timeout <= 0:
        raise InputError(None, "--timeout must be > 0", field="timeout")
    texts = scorer.read_student_texts(args.texts)
    template = formats.teacher_prompt("{question}", args.data_dir, args.prompt_id)
    prompts = [formats.teacher_prompt(t.question, args.data_dir, args.prompt_id) for t in texts]
    settings = scorer.ScoreSettings(
        model=args.model, echo=args.echo, prompt_id=args.prompt_id,
        prompt_sha256=hashlib.sha256(template.encode("utf-8")).hexdigest(),
        top_logprobs=args.top_logprobs, input_sha256=scorer.input_sha256(args.texts))
    report = cli_run.run_requests(_run_async(args, api_key, texts, prompts, settings), "texts")
    if isinstance(report, int):
        return report
    print(report.summary().replace(" kept", " valid"), file=sys.stderr)
    print(json.dumps({"texts": len(texts), "written": report.written,
                      "already_stored": report.already_stored, "invalid": report.invalid,
                      "failed": report.failed}, sort_keys=True))
    return cli_run.final_status(report, "texts", args.max_retries)


async def _run_async(args: argparse.Namespace, api_key: str, texts: list, prompts: list,
                     settings: Any):
    """Preflight (before anything is written), open the store, score."""
    from t5spec.teacher.client import ClientConfig, TeacherClient
    from t5spec.teacher.ratelimit import RateLimiter
    from t5spec.teacher.scorer import ScoreConfig, run_scoring
    from t5spec.teacher.store import TeacherStore

    client = TeacherClient(
        ClientConfig(base_url=args.base_url, model=args.model, endpoint="completions",
                     api_key=api_key, timeout_s=args.timeout, max_retries=args.max_retries,
                     backoff_base_s=args.retry_base),
        limiter=RateLimiter(args.requests_per_minute, args.tokens_per_minute),
    )
    config = ScoreConfig(prompt_id=args.prompt_id, top_logprobs=args.top_logprobs,
                         decoder_prompt=args.echo == "decoder_prompt",
                         concurrency=args.concurrency)
    try:
        await client.preflight()
        with TeacherStore(args.output, fsync=args.fsync) as store:
            store.open(settings, base_url=args.base_url)
            if store.torn_tails:
                print(f"note: cut {store.torn_tails} torn last line(s) left by an interrupted "
                      "run; those texts are asked again", file=sys.stderr)
            progress = _Progress(sum(t.key not in store.keys for t in texts), args.no_progress)
            try:
                return await run_scoring(texts, prompts, client, store, config,
                                         progress=progress)
            finally:
                progress.bar.close()
    finally:
        await client.aclose()


class _Progress:
    def __init__(self, total: int, disable: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="text", desc="teacher score", file=sys.stderr,
                        disable=disable, dynamic_ncols=True, mininterval=1.0)

    def advance(self, samples: int, *, questions_done: int, retries: int) -> None:
        self.bar.set_postfix_str(f"retries {retries}", refresh=False)
        self.bar.update(samples)
