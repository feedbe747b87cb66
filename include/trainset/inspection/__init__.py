"""The inspection stage (검수): send first-inspection passes to the inspection server, take the verdicts back,
route failures (labeler rework with a Slack notice, or refine's queue), render items for a visual check, and
apply rule-based bulk fixes to annotation files.  Plain Python: the Airflow layer hands in clients and
connections."""
