"""Build configuration beyond pyproject.toml: the optional compiled record walker.

``pip install .`` builds ``kafkatwist.wire._walk`` from C when a compiler is
there; ``optional=True`` lets the install go on without it (the slim Docker
image has no gcc), and kafkatwist then uses the pure-Python walker
(kafkatwist/wire/walk.py). A checkout run through your_program.sh builds it
in place with tools/build_walk.py instead.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kafkatwist.wire._walk",
            ["kafkatwist/wire/_walk.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
