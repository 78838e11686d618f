"""tracking: the search's MLflow side. `client` (store checks and writes), `outbox` (writes kept through an outage),
`callbacks` (Tune closes the runs of stopped trials), `pictures` (prediction panels) and `schema` (tag and role names,
shared with analysis/)."""
