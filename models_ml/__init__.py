"""models_ml."""
