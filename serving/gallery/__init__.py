"""The gallery: a browser page over a served generator (``static/``: plain HTML, CSS and JS,
no build step), the routes that serve it beside TF Serving's REST API (``pages.py``), the
source of each version's evaluation report (``reports.py``) and a page-only server for use
against the real tensorflow/serving (``server.py``)."""
