"""``python -m mscseq``: the CLI, then the process ends without the interpreter's teardown.

See :mod:`mscseq.fastexit`.
"""

from mscseq.cli import main
from mscseq.fastexit import run_and_exit

if __name__ == "__main__":
    run_and_exit(main)
