"""X11 backends of the sources: RECORD for input, EWMH for windows, mss for the screen."""
