"""The main job on embedded defaults (``lsagent demo``, ``make demo``): the whole workflow, from an
empty machine to review views in Label Studio, on a bundled dataset of customer reviews.

- ``command``: the click command, importing the rest only when it runs;
- ``dataset``: the bundled reviews and their labeling config;
- ``processes``: Label Studio, the service and the LLM simulator as children, stopped on exit;
- ``label_studio``: the demo's project and tasks, found again on a rerun, and the read-back;
- ``runner``: the steps, the progress lines, the URLs.
"""
