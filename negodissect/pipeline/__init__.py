"""The one conductor: source -> transport -> carrier -> decode -> analysis -> output.

:mod:`.capture` runs a capture file through the stages up to decoded blobs, :mod:`.stdin` the
blobs pasted on standard input, :mod:`.run` adds analysis (conversations) and the user's
selection; :mod:`.background` reads a capture in a child process (``-j``); :mod:`.decode` is
the one call into the token decoders.
"""
