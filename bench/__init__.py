"""Load benchmark of the lesson store API against a minimal Starlette + sqlite3 ceiling (see README.md)."""
