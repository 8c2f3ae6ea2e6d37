"""onedata activation: sends dbt-built audiences to destinations and records what happened."""
