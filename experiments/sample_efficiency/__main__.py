"""``python -m experiments.sample_efficiency``: the study's command line
(:func:`experiments.sample_efficiency.run.main`)."""

from experiments.sample_efficiency.run import main

if __name__ == "__main__":
    main()
