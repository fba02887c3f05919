"""Synthetic transaction data for the reference use case (generated here, never downloaded)."""
