"""``python -m experiments.mnist1d_table``: the study's command line
(:func:`experiments.mnist1d_table.run.main`)."""

from experiments.mnist1d_table.run import main

if __name__ == "__main__":
    main()
