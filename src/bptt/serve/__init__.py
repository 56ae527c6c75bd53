"""``bptt serve``: an HTTP API and a page for a sentiment model (the optional extra ``serve``).

``model.py`` loads the model and builds its card, ``app.py`` is the Starlette application
(endpoints, limits, errors), ``static/index.html`` the page. Nothing here is imported by the rest
of the package, so Starlette and uvicorn are needed only to serve.
"""
