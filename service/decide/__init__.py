"""Deciding with one policy version: the engine (the only importer of oso), the facts it reads, the
pattern memo, the strict checks a version must pass to be loaded, and the action vocabulary."""
