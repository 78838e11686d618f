"""trainable: what runs inside a Tune trial: its context (`context`), the trial's MLflow run and Tune function (`trial`),
and the trial process's housekeeping (`process`)."""
