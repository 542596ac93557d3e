"""The HTTP API's models, one module per resource: the input models a request body is parsed
into (``...In``, with what the service takes from them) and the public models a reply is shaped
as (``...Out``, built from the domain records). The stored records are the domain's
(:mod:`ledger.agreement`)."""
