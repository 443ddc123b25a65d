"""Datasets: the loader registry (``registry``), one module per loader, the data contract
(``base``), the prepared split files (``store``, ``prepare``) and the tasks a dataset poses
(``tasks``)."""
