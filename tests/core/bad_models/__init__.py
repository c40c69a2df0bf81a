"""The bad-model corpus by kind of file (sidecars, weights, training states, ONNX models) and the
environment they are built from; ``tests/core/bad_model_cases.py`` gathers them."""
