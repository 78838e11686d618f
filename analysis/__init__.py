"""analysis: the skip-connection / depth trade-off study from a search's MLflow runs."""
