"""The subcommands of ``python -m rero`` and the command module that registers each (the table
``rero.cli`` dispatches on and ``rero.runtime.sources`` resolves code inputs from)."""

#: subcommand -> the module that registers it; only that module is imported to run it, so
#: `calibrate` or `bound` start without loading torch
SUBCOMMANDS = {
    "prepare-data": "rero.commands.data",
    "calibrate": "rero.commands.privacy",
    "translate": "rero.commands.translate",
    "train": "rero.commands.train",
    "bound": "rero.commands.bounds",
    "bounds": "rero.commands.bounds",
    "from-scratch": "rero.commands.from_scratch",
    "attack": "rero.commands.attack",
    "transition": "rero.commands.attack",
    "aggregate": "rero.commands.aggregate",
    "figures": "rero.commands.figures",
    "check-config": "rero.commands.check",
    "advise": "rero.commands.advise",
    "advice": "rero.commands.advise",
    "audit": "rero.commands.audit",
    "report-pages": "rero.commands.publish",
    "provenance": "rero.commands.publish",
    "results-readme": "rero.commands.publish",
    "docs": "rero.commands.docs",
    "snapshot": "rero.commands.docs",
    "compare-summary": "rero.commands.docs",
}
