"""Adapters to other frameworks, each behind an optional extra and imported only on
request (``import vpack`` never imports them):

- :mod:`vpack.integrations.langchain` (``pip install "vpack-search[langchain]"``): a
  ``VPackRetriever`` and a ``VPackVectorStore`` for LangChain (``langchain-core``).
- :mod:`vpack.integrations.llamaindex` (``pip install "vpack-search[llamaindex]"``): a
  ``VPackRetriever`` for LlamaIndex (``llama-index-core``).

Importing one of them without its extra raises an ImportError that names the extra.
"""
