"""Results files (one JSON per run), leaderboards and regression checks. Leaderboards and
``regress`` read only the results files."""
