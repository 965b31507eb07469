"""SeqIO task and mixture registrations for t5spec (installed as ``t5spec.tasks``).

Gin run files say ``import t5spec.tasks``; importing this package registers every task and
mixture, training (``specialization``), evaluation (``evaluation``) and the mini lab's own
training tasks (``lab``) alike.
"""

from t5spec.tasks import evaluation, lab, specialization, stepbystep  # noqa: F401
