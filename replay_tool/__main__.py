"""`python -m replay_tool`: the same as the `replay-tool` console script."""

from replay_tool.cli import main

raise SystemExit(main())
