"""The human half of the workflow: review ``views`` in Label Studio's Data Manager, ``verdicts``
read back from annotators (pulled or hinted by the ``webhook``), the ``accuracy`` and
``calibration`` figures they give, and the ``export`` of final labels with their provenance."""
