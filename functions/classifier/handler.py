"""ClassifierFunction: the hosted classifier on Lambda. The model, its loading and the routing live in the
model layer (prescreen_model); importing it here loads the model during the init phase."""

from prescreen_model.lambda_handler import lambda_handler

__all__ = ["lambda_handler"]
