"""Sahab's ComponentResources: the cloud layer (aws/, azure/) and the platform layer (kubernetes/)."""
