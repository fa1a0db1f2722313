"""Answers derived from the policy: lists, subjects and allowed actions.

Each proposes candidates (related.py: what a user's facts connect to, plus the stranger probe) and
confirms every one with the engine of the policy version in force (in_force.py), on one snapshot.
"""
