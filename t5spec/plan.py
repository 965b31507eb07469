"""``t5spec plan``: memory per device and step FLOPs of a training gin config on a topology.

Example::

    t5spec plan --gin_file=gin/flant5_xl_spec.gin --topology=v4-32

resolves the config as ``python -m t5x.train`` would (every binding checked), evaluates the
train state with ``jax.eval_shape`` (nothing allocated), shards it with the config's own
logical-axis rules on a (data, model) mesh of the topology, and prints parameters, optimizer
state, an activation estimate per device and the step FLOPs. Exit status 1 when the config
will not fit; 2 for bad input (unknown topology, unknown gin binding).

With ``--compile`` (TPU topologies; needs the ``tpu`` extra, i.e. libtpu) it also builds the
training step and the infer_eval decode step exactly as ``t5x.train`` would, compiles them
with the TPU compiler for the slice's devices (none attached) and prints XLA's memory per
device, the step's FLOPs and step-time bounds beside the analytic plan
(:mod:`t5spec.launch.compile_plan`); ``--json OUT`` writes it all. Exit 1 when XLA says the
config does not fit::

    t5spec plan --compile --gin_file=gin/flant5_xl_spec.gin --topology=v4-32 --json xl.json
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gin_file", action="append", required=True,
                        help="gin file(s), in order, as for python -m t5x.train")
    parser.add_argument("--gin_bindings", action="append", default=[], metavar="NAME=VALUE",
                        help="extra gin bindings, applied last (like --gin.NAME=VALUE)")
    parser.add_argument("--topology", required=True,
                        help="v4-32, v5e-16 (= v5litepod-16), v5p-128, v6e-64, h100-16, ...")
    parser.add_argument("--num_partitions", type=int, default=None,
                        help="override the model-parallel size read from the config")
    parser.add_argument("--mfu", type=float, default=0.4,
                        help="model-FLOPs utilization for the step-time estimate (0-1)")
    parser.add_argument("--show_shardings", action="store_true",
                        help="also print every parameter's shape, mesh axes and size per device")
    parser.add_argument("--compile", action="store_true",
                        help="also compile the train and infer_eval steps for the TPU slice "
                             "(libtpu: pip install -e '.[tpu]') and print XLA's figures")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="with --compile: write the figures as JSON to OUT (must not exist)")


def run(args: argparse.Namespace) -> int:
    from t5spec.launch.ginconfig import split_overrides
    from t5spec.launch.ginsyntax import check_bindings
    from t5spec.launch.topology import parse_topology

    topology = parse_topology(args.topology)  # fails fast, before the slow gin/JAX imports
    check_bindings(split_overrides(args.gin_bindings), flag="gin_bindings")
    _quiet_absl()
    if getattr(args, "compile", False):
        from t5spec.launch import compile_cli

        return compile_cli.run_compile(args, topology)
    from t5spec.launch import planning

    plan = planning.build_plan(args.gin_file, topology, args.gin_bindings,
                               num_partitions=args.num_partitions)
    print(planning.format_plan(plan, mfu=args.mfu))
    if args.show_shardings:
        print(planning.format_shardings(plan))
    return 0 if plan.fits else 1


def _quiet_absl() -> None:
    """Adafactor logs one warning per parameter while shaping the state; hide them."""
    from absl import logging

    logging.set_verbosity(logging.ERROR)
