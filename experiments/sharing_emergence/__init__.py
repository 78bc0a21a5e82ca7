"""Study: does weight sharing emerge in a sparse fully connected net trained on translated
digits? (β-LASSO S-FC against S-FC / S-LOCAL / S-CONV trained with SGD, a translation
dose study with a pixel-shuffled negative control, every sharing score with its power.)

``python -m experiments.sharing_emergence`` (:mod:`experiments.sharing_emergence.run`,
which documents the protocol). Modules: ``config`` (presets), ``data`` (the digits, the
augmentations, the shifted test set), ``regime`` (the first-layer gradient scale and the
λ map the λ is chosen from), ``measure`` (what is measured on a trained first layer),
``run`` (the training runs and the command line), ``tables`` (summaries, paired
comparisons, the criterion, README tables), ``figures`` (drawn from the results JSON).
"""
