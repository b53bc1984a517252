"""The admin web panel: server-rendered pages under /admin (Jinja2 + HTMX), another edge beside the API."""
