"""Icons, style sheet and other files the app reads at run time (shipped as package data)."""
