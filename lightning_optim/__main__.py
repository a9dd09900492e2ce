"""``python -m lightning_optim preview MODULE:CLASS --max-epochs N --steps-per-epoch N [--png PATH]``."""

import sys

from lightning_optim.tools.preview_cli import main

if __name__ == "__main__":
    sys.exit(main())
