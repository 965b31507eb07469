"""t5spec: specialize small T5/FlanT5 students toward multi-step math reasoning on T5X.

Data flows one way: ``data`` → ``teacher`` → ``align`` → ``tasks`` → ``models``/``losses``
→ train (T5X) → ``evaluate`` → ``report``. Importing this package is cheap: it starts neither
TensorFlow nor JAX; heavy modules are imported where they are used.
"""

__version__ = "0.1.0"
