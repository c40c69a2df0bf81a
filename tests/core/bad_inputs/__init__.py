"""The bad-input corpus by kind of input (images, masks, folders, project files, COCO, STS-2D archives,
training data, recovery journals); ``tests/core/test_bad_inputs.py`` runs every case of each."""
