"""Reading ML Metadata for the CLI: connections, runs, models, scores and lineage."""
