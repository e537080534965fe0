"""The embeddings service's routers, one per resource: corpora, models, jobs, queries."""
