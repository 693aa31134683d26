"""Tests of the agent dispatch bot."""
