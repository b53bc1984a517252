"""Background jobs on taskiq: what runs them (engine), the jobs themselves (tasks), `python -m worker`."""
