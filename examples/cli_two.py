"""The two-optimizer variant of ``examples/cli.py``: ``optim.body_opt`` and ``optim.head_opt``.

python examples/cli_two.py fit --config examples/config_two.yaml --optim.head_opt.init_args.lr=0.005
"""

from cli import TwoOptimizerClassifier, main  # examples/ is on sys.path when this file runs as a script

if __name__ == "__main__":
    main(TwoOptimizerClassifier)
