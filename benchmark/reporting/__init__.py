"""From prediction files to the verdict: metrics, statistics, tables, figures and the report page."""
