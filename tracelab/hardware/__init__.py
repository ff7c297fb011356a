"""Hardware: the device catalog, the model registry and the calibrated performance model."""
