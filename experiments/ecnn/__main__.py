"""``python -m experiments.ecnn``: the study's command line
(:func:`experiments.ecnn.run.main`)."""

from experiments.ecnn.run import main

if __name__ == "__main__":
    main()
