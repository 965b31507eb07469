"""Distilling step-by-step (Hsieh et al. 2023, arXiv 2305.02301): task names, ids, prefixes.

The student is trained multi-task on one set of teacher samples. Every sample gives two
examples that differ only in a task prefix on the input:

========== ===================================== ===========================================
task       inputs                                targets
========== ===================================== ===========================================
label      ``label_prefix + question``           ``"The answer is N"`` (one-hot)
rationale  ``rationale_prefix + question``       the teacher's rationale, with its top-k rows
                                                 (``teacher_ids`` / ``teacher_probs`` /
                                                 ``teacher_mask``, as the CoT formats)
========== ===================================== ===========================================

Loss (:mod:`t5spec.losses.stepbystep`, chosen by ``SpecializationModel.objective``)::

    loss = mean_label_tokens CE  +  λ · mean_rationale_tokens L_rat

with ``L_rat`` = CE on the sampled rationale (``"ce"``, the paper) or the sparse top-k KL to
the teacher where a distribution exists and CE elsewhere (``"kl"``, the hybrid of step-by-step
and distribution matching). At inference the student answers from the label prefix alone,
a handful of tokens instead of a rationale.

The task of each example travels as its ``format_id`` (ids after the four formats of
:data:`t5spec.data.formats.FORMATS`), so :class:`t5spec.feature_converters.
DistillationFeatureConverter` carries it unchanged to the model as ``decoder_format_ids``.

The tasks themselves are :mod:`t5spec.tasks.stepbystep`; the loss's choices and checks are
:mod:`t5spec.losses.config`. Pure Python: importing this module starts neither TensorFlow nor
JAX (``t5spec.tasks`` registers nothing on import).
"""

from __future__ import annotations

from t5spec.data import formats

NUM_FORMATS = len(formats.FORMATS)  # ids 1..4 are the paper's four formats
LABEL_TASK_ID = NUM_FORMATS + 1
RATIONALE_TASK_ID = NUM_FORMATS + 2
TASKS = ("label", "rationale")
TASK_IDS = {"label": LABEL_TASK_ID, "rationale": RATIONALE_TASK_ID}

DEFAULT_LABEL_PREFIX = "[label] "
DEFAULT_RATIONALE_PREFIX = "[rationale] "

LABEL_MAX_NEW_TOKENS = 16
"""Decode budget of label-prefix inference: "The answer is 1,234,567.89" is 14 T5 tokens with
EOS, and 16 tokens can hold no rationale."""


def label_target(answer: str) -> str:
    """The label task's target for a canonical answer text: ``"The answer is N"``."""
    return f"{formats.ANSWER_PREFIX}{answer}"
