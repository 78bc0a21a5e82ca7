"""``python -m experiments.nlgp_localization``: the study's command line
(:func:`experiments.nlgp_localization.run.main`)."""

from experiments.nlgp_localization.run import main

if __name__ == "__main__":
    main()
