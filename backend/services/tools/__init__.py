"""The studio tools: edit, upscale and social formats, each a kind of job.

A tool job carries a GenerationRequest like any job (prompt, provider, model, n, output
size) plus a kind-specific ``tool`` dict saved with the job; the job service hands both
to the tool's :class:`~backend.services.tools.common.ToolProducer`, which yields the
images. Validation turns an HTTP body into that pair, refusing bad input with a
ValidationError naming the field.
"""
