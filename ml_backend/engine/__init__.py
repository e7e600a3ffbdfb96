"""The annotation engine, one flow from a labeling config to a scored answer: ``labeling`` reads
the config, ``prompts`` and ``tokens`` build and measure the prompt, ``llm`` and ``ratelimit`` make
the call, ``postprocess`` reads the answer, ``confidence`` and ``answers`` score it, ``annotate``
runs one task end to end and ``agents`` registers what ties them together."""
