"""The policy as a stored artifact: the versions activated on the store, the served engine that decides
with the active one (one engine per version and process), and the rulebook of a version's clauses."""
