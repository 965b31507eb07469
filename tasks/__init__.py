"""SeqIO task and mixture registrations for t5spec (installed as ``t5spec.tasks``).

Importing this package registers nothing. Registration is explicit, per module, by the caller
that needs the tasks:

- training: ``specialization`` (the four formats, teacher and gold) and ``stepbystep`` (label
  + rationale) register on import — gin run files say ``import t5spec.tasks.specialization``
  — or with :func:`register`;
- evaluation: :mod:`t5spec.evaluate.tasks`, beside the catalogue
  (:mod:`t5spec.evaluate.benchmarks`); its ``register()``;
- the mini lab's own tasks: :mod:`t5spec.tasks.lab`, imported by the lab's gin files only.

``config`` (where the data is) and ``stepbystep_names`` (pure names) register nothing.
"""

from __future__ import annotations


def register() -> None:
    """Registers the training tasks and mixtures (specialization, step-by-step); idempotent.

    Evaluation tasks: :func:`t5spec.evaluate.tasks.register`; the lab's: :mod:`t5spec.tasks.lab`.
    """
    from t5spec.tasks import specialization, stepbystep

    specialization.register()
    stepbystep.register()
