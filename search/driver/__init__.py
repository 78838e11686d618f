"""driver: what runs a search on the driver process: its `session` (store, parent run, context), `state` (resume),
`cluster` (Ray), `tuner` (Tune's parts), `results` (the trial table and outcome), `final` and `rerank` (the final
round), `search` (run_search), `dry_run`, `compute`, `progress`, `stopping`, `quiet` and `interrupt`."""
