"""``t5spec teacher sample|stats``: sample CoT from an OpenAI-compatible teacher into a store.

Example (the paper's settings; the key comes from $OPENAI_API_KEY or --api_key_file, never
from a flag value)::

    t5spec teacher sample --base_url=https://api.openai.com/v1 --model=code-davinci-002 \\
        --split=train --num_samples=40 --output=runs/teacher/gsm8k_train
    t5spec teacher stats runs/teacher/gsm8k_train
    t5spec teacher score …   # the teacher's log-probs of the student's texts: score_cli.py

Re-running the same command resumes: only missing samples are requested. Exit status: 0 all
samples stored, 1 some samples failed after retries (run again), 2 bad input or a teacher
that refuses the run (wrong URL, model or key).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

from t5spec.errors import InputError

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sample = sub.add_parser("sample", help="sample CoT solutions with top-k logprobs")
    _sample_arguments(sample)
    stats = sub.add_parser("stats", help="accuracy, kept count and coverage of a store")
    stats.add_argument("store", help="the --output directory of a sample run")
    from t5spec.teacher import score_cli

    score = sub.add_parser("score", help="the teacher's top-k log-probs of given texts (echo), "
                           "as teacher records")
    score_cli.add_arguments(score)


def _sample_arguments(p: argparse.ArgumentParser) -> None:
    teacher = p.add_argument_group("teacher")
    teacher.add_argument("--base_url", required=True, help="e.g. http://127.0.0.1:8000/v1")
    teacher.add_argument("--model", required=True)
    teacher.add_argument("--endpoint", choices=("completions", "chat"), default="completions")
    teacher.add_argument("--api_key_env", default=None, metavar="NAME",
                         help=f"environment variable holding the key (default {DEFAULT_KEY_ENV}; "
                         "a variable named here must be set)")
    teacher.add_argument("--api_key_file", help="file whose first line is the key")
    data = p.add_argument_group("questions")
    data.add_argument("--dataset", default="gsm8k")
    data.add_argument("--split", default="train")
    data.add_argument("--data_dir", help="raw data root (default $T5SPEC_DATA_DIR)")
    data.add_argument("--question_ids", help="comma-separated ids ('gsm8k/train/17') or indices")
    data.add_argument("--limit", type=int, help="only the first N questions (after ids)")
    data.add_argument("--prompt_id", default="prompt_complex",
                      help="lib_prompt/<id>.txt few-shot prompt (paper: prompt_complex)")
    dec = p.add_argument_group("decoding (paper: 40 samples, T=0.5, 256 tokens, top-5)")
    dec.add_argument("--num_samples", type=int, default=40)
    dec.add_argument("--temperature", type=float, default=0.5)
    dec.add_argument("--max_tokens", type=int, default=256)
    dec.add_argument("--top_logprobs", type=int, default=5)
    dec.add_argument("--stop", action="append", default=[],
                     help="stop string (repeatable; the paper used none). llama.cpp cuts the "
                     "text but returns the stop tokens: such samples are stored invalid")
    dec.add_argument("--seed", type=int, default=0, help="per-request seeds derive from it; "
                     "-1 sends none")
    sched = p.add_argument_group("scheduling")
    sched.add_argument("--concurrency", type=int, default=16)
    sched.add_argument("--samples_per_request", type=int, default=0,
                       help="n per request; 0 = auto (up to 8, 1 if the server ignores n)")
    sched.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    sched.add_argument("--max_retries", type=int, default=8)
    sched.add_argument("--retry_base", type=float, default=0.5, help="first backoff, seconds")
    sched.add_argument("--requests_per_minute", type=float)
    sched.add_argument("--tokens_per_minute", type=float)
    est = p.add_argument_group("estimate")
    est.add_argument("--encoding", help="tiktoken encoding for the estimate (default: model's; "
                     "'none': ~4 characters per token, for teachers with their own tokenizer)")
    est.add_argument("--usd_per_1m_prompt", type=float)
    est.add_argument("--usd_per_1m_completion", type=float)
    est.add_argument("--dry_run", action="store_true", help="print the estimate and stop")
    out = p.add_argument_group("output")
    out.add_argument("--output", required=True, help="store directory (created; resumed)")
    out.add_argument("--fsync", choices=("interval", "always", "never"), default="interval")
    out.add_argument("--no_progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.action == "stats":
        return _stats(args.store)
    if args.action == "score":
        from t5spec.teacher import score_cli

        return score_cli.run(args, _api_key(args))
    return _sample(args)


def _stats(directory: str, question_ids: set[str] | None = None) -> int:
    from t5spec.teacher.filtering import compute_stats
    from t5spec.teacher.store import read_manifest, read_samples

    read_manifest(directory)
    samples = read_samples(directory)
    if question_ids is not None:
        samples = (s for s in samples if s.question_id in question_ids)
    stats = compute_stats(samples)
    print(stats.summary())
    print(json.dumps(stats.to_json(), sort_keys=True))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from t5spec.teacher import cli_run
    from t5spec.teacher import estimate as est
    from t5spec.teacher.sampler import Question
    from t5spec.teacher.store import scan_store

    _check_numbers(args)
    api_key = _api_key(args)
    questions = _questions(args)
    settings = _settings(args)
    enc, exact = est.load_encoding(args.model, args.encoding, args.data_dir)
    counts = est.count_prompt_tokens(enc, [q.prompt for q in questions])
    questions = [
        Question(q.id, q.question, q.gold, q.prompt, c)
        for q, c in zip(questions, counts, strict=True)
    ]

    def announce(stored: set[str]) -> None:
        """Prints the token/cost estimate of what is missing (before any request)."""
        missing = [
            sum(f"{q.id}#{i}" not in stored for i in range(args.num_samples)) for q in questions
        ]
        estimate = est.estimate_run(
            counts, missing, samples_per_request=args.samples_per_request or 1,
            max_tokens=args.max_tokens, encoding=enc.name if enc else "chars/4",
            exact_encoding=exact,
            usd_per_1m_prompt=args.usd_per_1m_prompt,
            usd_per_1m_completion=args.usd_per_1m_completion,
        )
        print(f"{len(questions)} questions × {args.num_samples} samples; "
              f"{estimate.summary()}", file=sys.stderr)

    if args.dry_run:  # read-only: no request, no manifest
        announce(scan_store(args.output).keys if os.path.isdir(args.output) else set())
        return 0
    report = cli_run.run_requests(_run_async(args, api_key, questions, settings, announce),
                                  "samples")  # fmt: skip
    if isinstance(report, int):
        return report
    print(report.summary(), file=sys.stderr)
    if report.n_fallback:
        print("note: the server ignored n>1; fell back to one sample per request",
              file=sys.stderr)
    _stats(args.output, {q.id for q in questions})
    return cli_run.final_status(report, "samples", args.max_retries)


async def _run_async(
    args: argparse.Namespace, api_key: str, questions: list, settings: Any, announce: Any
):
    """Preflight (before anything is written), open the store, estimate, sample."""
    from t5spec.teacher.client import ClientConfig, TeacherClient
    from t5spec.teacher.ratelimit import RateLimiter
    from t5spec.teacher.sampler import SamplingConfig, run_sampling
    from t5spec.teacher.store import TeacherStore

    client = TeacherClient(
        ClientConfig(
            base_url=args.base_url, model=args.model, endpoint=args.endpoint, api_key=api_key,
            timeout_s=args.timeout, max_retries=args.max_retries,
            backoff_base_s=args.retry_base,
        ),
        limiter=RateLimiter(args.requests_per_minute, args.tokens_per_minute),
    )
    config = SamplingConfig(
        prompt_id=args.prompt_id, num_samples=args.num_samples, temperature=args.temperature,
        max_tokens=args.max_tokens, top_logprobs=args.top_logprobs, stop=tuple(args.stop),
        concurrency=args.concurrency, samples_per_request=args.samples_per_request,
        seed=None if args.seed < 0 else args.seed,
    )
    try:
        await client.preflight()
        with TeacherStore(args.output, fsync=args.fsync) as store:
            store.open(settings, base_url=args.base_url)
            announce(store.keys)
            if store.torn_tails:
                print(f"note: cut {store.torn_tails} torn last line(s) left by an interrupted "
                      "run; those samples are asked again", file=sys.stderr)
            progress = _TqdmProgress(questions, store.keys, args)
            try:
                return await run_sampling(questions, client, store, config, progress=progress)
            finally:
                progress.close()
    finally:
        await client.aclose()


class _TqdmProgress:
    """Samples bar with questions done and retries so far in its postfix."""

    def __init__(self, questions: list, stored: set[str], args: argparse.Namespace):
        from tqdm import tqdm

        total = sum(
            f"{q.id}#{i}" not in stored for q in questions for i in range(args.num_samples)
        )
        self.n_questions = len(questions)
        self.bar = tqdm(total=total, unit="sample", desc="teacher", file=sys.stderr,
                        disable=args.no_progress, dynamic_ncols=True, mininterval=1.0)

    def advance(self, samples: int, *, questions_done: int, retries: int) -> None:
        self.bar.set_postfix_str(f"questions {questions_done}/{self.n_questions}, "
                                 f"retries {retries}", refresh=False)
        self.bar.update(samples)

    def close(self) -> None:
        self.bar.close()


def _check_numbers(args: argparse.Namespace) -> None:
    for name, low in (("num_samples", 1), ("max_tokens", 1), ("top_logprobs", 0),
                      ("concurrency", 1), ("samples_per_request", 0), ("max_retries", 0)):
        if getattr(args, name) < low:
            raise InputError(None, f"--{name} must be at least {low}", field=name)
    if args.timeout <= 0 or args.temperature < 0:
        raise InputError(None, "--timeout must be > 0 and --temperature >= 0", field="timeout")


def _api_key(args: argparse.Namespace) -> str:
    """The key from --api_key_file (first line) or $<api_key_env>; InputError when an
    explicitly named variable is unset; "" (said on stderr) when the default one is."""
    if args.api_key_file:
        try:
            with open(args.api_key_file, encoding="utf-8") as f:
                key = f.readline().strip()
        except OSError as e:
            raise InputError(args.api_key_file, f"cannot read ({e.strerror})",
                             field="api_key_file") from None
        if not key:
            raise InputError(args.api_key_file, "empty key file", field="api_key_file")
        return key
    name = args.api_key_env or DEFAULT_KEY_ENV
    key = os.environ.get(name, "").strip()
    if key:
        return key
    if args.api_key_env:  # named on purpose: unset is a mistake, said before any request
        raise InputError(None, f"environment variable ${name} is not set (or empty)",
                         field="api_key_env")
    print(f"t5spec teacher: ${name} is not set: requests carry no API key (fine for a local "
          "server; otherwise set it, or pass --api_key_env / --api_key_file)", file=sys.stderr)
    return ""


def _questions(args: argparse.Namespace) -> list:
    from t5spec.data import formats, math_datasets
    from t5spec.teacher.sampler import Question

    try:
        examples = math_datasets.load(args.dataset, args.split, args.data_dir)
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise InputError(None, str(e), field="dataset") from None
    if args.question_ids:
        by_id = {ex.id: ex for ex in examples}
        chosen = []
        for token in (t.strip() for t in args.question_ids.split(",") if t.strip()):
            qid = f"{args.dataset}/{args.split}/{token}" if token.isdigit() else token
            if qid not in by_id:
                raise InputError(None, f"unknown question id {qid!r}", field="question_ids")
            chosen.append(by_id[qid])
        examples = list({ex.id: ex for ex in chosen}.values())  # repeated ids: once
    if args.limit is not None:
        examples = examples[: args.limit]
    return [
        Question(ex.id, ex.question, ex.answer,
                 formats.teacher_prompt(ex.question, args.data_dir, args.prompt_id))
        for ex in examples
    ]


def _settings(args: argparse.Namespace):
    from t5spec.data import formats
    from t5spec.teacher.store import RunSettings

    template = formats.teacher_prompt("{question}", args.data_dir, args.prompt_id)
    return RunSettings(
        model=args.model, endpoint=args.endpoint, dataset=args.dataset, split=args.split,
        prompt_id=args.prompt_id,
        prompt_sha256=hashlib.sha256(template.encode("utf-8")).hexdigest(),
        temperature=args.temperature, top_logprobs=args.top_logprobs,
        num_samples=args.num_samples, max_tokens=args.max_tokens, stop=tuple(args.stop),
        seed=args.seed,
    )
