"""Demo data and the demo relying portal (make run). Never enabled in production."""
