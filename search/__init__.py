"""search: U-Net search spaces, the Ray Tune wiring, MLflow tracking and the command line."""
