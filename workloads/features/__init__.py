"""Feature store (Feast) repository and the feature encoding shared by training and serving."""
