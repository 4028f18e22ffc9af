"""The pure Liap Tui domain and its storage: rules, room decider, events, codec, event store."""
