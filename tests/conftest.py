pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.databases",
    "tests.fixtures.label_studio",
    "tests.fixtures.service",
    "tests.fixtures.llama",
]
