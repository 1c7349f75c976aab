import sys

from analyzer.cli import main

sys.exit(main(prog="python -m analyzer"))
