"""Metric math (FD, KID, IS), the feature networks they use, and scoring a generator."""
