"""Training: configs and recipes, the trainer, learning-rate schedules, evaluation and tuning."""
