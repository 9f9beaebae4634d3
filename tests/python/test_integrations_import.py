"""The framework adapters are optional: `import vpack` never imports them or their
frameworks, and importing an adapter without its extra names the extra. Runs in every
environment (the frameworks are hidden in a child interpreter, installed or not)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )


def test_core_import_does_not_import_the_frameworks() -> None:
    result = run(
        "import sys, vpack, vpack.integrations\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'llama_index', 'pydantic', 'vpack.integrations.langchain'))\n"
        "assert not loaded, loaded\n"
        "assert 'vpack.integrations.langchain' not in sys.modules\n"
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("module", "hidden", "extra", "package"),
    [
        ("langchain", "langchain_core", "langchain", "langchain-core"),
        ("llamaindex", "llama_index", "llamaindex", "llama-index-core"),
    ],
)
def test_importing_an_adapter_without_its_extra_names_the_extra(
    module: str, hidden: str, extra: str, package: str
) -> None:
    result = run(
        "import sys\n"
        f"sys.modules[{hidden!r}] = None  # as if not installed\n"
        f"sys.modules[{hidden + '.core'!r}] = None\n"
        "try:\n"
        f"    import vpack.integrations.{module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    raise SystemExit('imported')\n"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert f'pip install "vpack-search[{extra}]"' in result.stdout
    assert package in result.stdout and f"vpack.integrations.{module}" in result.stdout
