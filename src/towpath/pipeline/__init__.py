"""Pipeline room: Ratchet-style concurrent ETL from processors in stages."""

from towpath.pipeline.processor import Processor, ProcessorContext, Sink, Source

__all__ = ["Processor", "ProcessorContext", "Sink", "Source"]
