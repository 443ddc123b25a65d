"""The documentation site's generated parts."""
