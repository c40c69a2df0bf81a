"""Human-in-the-loop logic behind the GUI's training, review and model panels (Qt-free)."""
