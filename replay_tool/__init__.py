"""`replay-tool`: list, show, step through, verify, diff, export and import recorded matches."""
