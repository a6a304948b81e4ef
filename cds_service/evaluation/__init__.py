"""The functional core: no I/O, no clock, no Flask/requests/os. Everything arrives as arguments."""
