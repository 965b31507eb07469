"""SeqIO task and mixture registrations for t5spec (installed as ``t5spec.tasks``).

Gin run files say ``import t5spec.tasks``; importing this package registers every task and
mixture, training (``specialization``) and evaluation (``evaluation``) alike.
"""

from t5spec.tasks import evaluation, specialization  # noqa: F401
