"""Tests of the documentation: the site, its generated pages and the snapshot they render."""
