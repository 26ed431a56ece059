"""``python -m mscseq``."""

from mscseq.cli import main

main()
