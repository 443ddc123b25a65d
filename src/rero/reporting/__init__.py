"""Everything that reads finished job outputs: the summary table and what its columns mean
(``summary``, ``columns``), the advice table (``advice_table``), the study in prose
(``study_text``), the report's pages (``pages``, ``html``), provenance, the results folder's README
and the figures (``figures``)."""
