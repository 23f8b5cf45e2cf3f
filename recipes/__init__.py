"""Built-in recipes, shipped as package data."""
