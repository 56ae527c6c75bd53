"""``python -m bptt``: the ``bptt`` command, so that ``torchrun -m bptt train JOB ...`` works."""
import sys

from .cli import main

sys.exit(main())
