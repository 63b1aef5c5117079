"""Dojo: trains a local LLM in senior-engineer behaviour by RL inside a simulated agile team."""

import logging


def _quiet_optional_bitsandbytes_kernel(record: logging.LogRecord) -> bool:
    # bitsandbytes warns, when it is imported, that an optional CPU kernel (the `kernels`
    # package, fetched from a hub at run time) is missing; its own CPU path serves QLoRA
    # here, so the line was noise in every model worker's log
    return "kernels-community" not in record.getMessage()


logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_quiet_optional_bitsandbytes_kernel)

__version__ = "0.1.0"
