"""Command line: `polyedit <command>`. Each module here that defines `command` adds it to the group."""
