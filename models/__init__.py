"""ML only, in rooms: networks/, data/, training/, metrics/, and export.py (the serving signatures).

Imports only the bottom layer (artgan.config, artgan.errors, artgan.contract, artgan.grid):
no TFX component, pipeline wiring or server.
"""
