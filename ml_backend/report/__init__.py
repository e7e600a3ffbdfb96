"""What a person reads about a job: the self-contained ``html`` report, its inline SVG ``charts``
and the notebook/terminal ``display`` records of the Python client."""
