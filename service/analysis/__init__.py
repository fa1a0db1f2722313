"""Offline analyses of a policy: the impact of a candidate on the store, the decision tables, a
candidate folder's validation and activation."""
