"""Controllers of the model side of the window (training, model library, review, evaluation, label next,
prediction, saliency). Each one owns one job, gets a ``HitlContext`` instead of the window, and reacts to
its panel's signals; ``app.hitl`` composes them."""
