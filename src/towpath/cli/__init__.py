"""CLI room: thin Click commands that parse, call one library function, and render."""
