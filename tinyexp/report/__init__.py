"""`tinyexp report`'s presentation: tables, figures and report.md from the rows of
tinyexp.tracking.report_runs; nothing here reads MLflow."""
