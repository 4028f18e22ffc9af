"""Examples of embedding the engine; `python -m examples.server` runs the WebSocket server."""
