"""Shared test helpers: where the repository and the real data are (`paths`), small datasets written in each official
layout (`layouts`), and the search CLI run in a subprocess (`search`), replay tables (`replay`)."""
