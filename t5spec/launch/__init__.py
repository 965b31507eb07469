"""Launching t5spec training at scale: Cloud TPU pods, SLURM / multi-node GPU, sweeps, plans.

Modules: ``topology`` (known slices), ``ginconfig`` (resolve a T5X gin config without
training), ``costs`` / ``planning`` (memory and FLOPs, ``t5spec plan``), ``commands`` /
``common`` (commands as data, ``--dry_run``, pre-flight), ``tpu``, ``slurm``, ``multinode``,
``node`` (one host's process), ``sweep``; ``aot`` / ``compile_plan`` / ``compile_report`` /
``compile_cli`` (``t5spec plan --compile``: the real step compiled for an unattached TPU).
Shell entry points live in ``launch/``.
Importing this package is cheap (no JAX/TF).
"""
