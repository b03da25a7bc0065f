"""Run the course stages against a program: C{python -m tests.challenge.tester --help}."""

from __future__ import annotations

import sys

from tests.challenge.tester.runner import main

sys.exit(main())
