"""Delivered files: the landing area, recording and loading deliveries, the readers per format and
the sources per connector."""
