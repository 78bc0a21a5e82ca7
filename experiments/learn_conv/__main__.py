"""``python -m experiments.learn_conv``: the study's command line
(:func:`experiments.learn_conv.run.main`)."""

from experiments.learn_conv.run import main

if __name__ == "__main__":
    main()
