"""Training losses, in one place: the math, the objectives and the config that picks one.

* :mod:`t5spec.losses.sparse` — the sparse top-k KL / CE mix (distribution vs sample
  matching) and its one primitive, a sparse cross-entropy with a custom VJP (pure JAX).
* :mod:`t5spec.losses.stepbystep` — distilling step-by-step: label CE + λ · rationale loss
  (CE or the sparse top-k KL), one mean per task (pure JAX).
* :mod:`t5spec.losses.config` — :class:`~t5spec.losses.config.LossConfig`, the objective a
  ``SpecializationModel`` trains and its checks (pure Python).
* :mod:`t5spec.losses.objective` — :func:`~t5spec.losses.objective.batch_loss`, one batch's
  loss under a config (what ``SpecializationModel.loss_fn`` calls).

Importing this package imports nothing else (the submodules load JAX when imported).
"""
