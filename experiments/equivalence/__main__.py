"""``python -m experiments.equivalence``: the study's command line
(:func:`experiments.equivalence.run.main`)."""

from experiments.equivalence.run import main

if __name__ == "__main__":
    main()
