"""Evaluation during and after training, and model selection.

``benchmarks`` (names: tasks, mixtures, results columns) → ``metrics`` (SeqIO postprocessors
and metric functions, one scorer) → ``evaluator`` (per-task schedules inside T5X infer_eval)
→ ``loggers`` (per-example predictions, ``results.jsonl``) → ``results`` / ``select`` (read
per-checkpoint accuracy, pick checkpoints) → ``command`` (the exact ``t5x.eval`` command);
``runinfo`` reads how a run describes itself. CLIs: ``cli`` (``t5spec eval``),
``select_cli`` (``t5spec select``). Importing this package is cheap (no TF / JAX).
"""
