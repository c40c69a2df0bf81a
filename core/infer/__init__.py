"""Inference: post-processing, the Predictor protocol and its PyTorch / ONNX Runtime backends."""
