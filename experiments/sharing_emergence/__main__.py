"""``python -m experiments.sharing_emergence``: the study's command line
(:func:`experiments.sharing_emergence.run.main`)."""

from experiments.sharing_emergence.run import main

if __name__ == "__main__":
    main()
