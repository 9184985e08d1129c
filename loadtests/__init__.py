"""Bounded gRPC load generation, the echo floor, and `make bench`."""
