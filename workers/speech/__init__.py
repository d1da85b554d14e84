"""The bottom layer: audio, chunking, engines and part merging.

Nothing here imports Django or `transcripts`: configuration comes in as
arguments, so the CLI, the web worker and Lambda call it the same way.
"""
