"""The subcommands of ``python -m rero``: one module each (or one per pair that shares its flags
and outputs), which provides ``register(subparsers)``; command modules never import each other
(shared flag groups are ``training_flags`` and ``schedule_flags``)."""
