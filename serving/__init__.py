"""Serving every export over HTTP with TensorFlow Serving's REST API, and a page to try it.

    make serve            # every exports/<task>/<version>/ on http://127.0.0.1:8501

models.py loads versions and swaps new ones in while serving; rest.py reads and writes
TF Serving's request and answer formats; batching.py merges concurrent requests into
one call; app.py is the Starlette application; page.html the page at `/`.
"""
