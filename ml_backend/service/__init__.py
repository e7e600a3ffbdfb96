"""The HTTP service Label Studio and the admin tools talk to: the Flask ``app`` factory, the ML
backend protocol and admin REST API (``api/``), authentication, health, metrics, ``/predict``'s
time-bounded ``predict`` and the gunicorn entry points (``wsgi``, ``gunicorn_conf``)."""
