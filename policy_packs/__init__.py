"""Sahab's CrossGuard policy packs (one folder per pack) and the helpers they share (`common`)."""
