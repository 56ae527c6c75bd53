"""The applications built on the engine, one module per job: each holds the job's estimator
(``fit`` / ``predict`` / ``save`` / ``load``) and its recipe (the default settings), nothing else.

    sentiment.py        many-to-one: SentimentClassifier (tokenizer + vocabulary + Classifier)
    language_model.py   many-to-many: stream and label-conditioned language models, TextModel
    tagger.py           many-to-many, aligned: SequenceTagger (part-of-speech tags)
    translation.py      encoder-decoder: Translator (e.g. date normalisation)
    long_range.py       the adding problem: train_adding for a Regressor (vanishing gradients)
    _common.py          the glue they share: SharedSettings, unknown settings, the dev hold-out,
                        saving and loading a job directory (model + vocabularies + a JSON file)

Estimators follow scikit-learn: ``fit`` returns self, and what fit (or load) sets ends in ``_``
(``model_``, ``vocab_``, ``classes_``, ``trainer_``, ...).
"""
