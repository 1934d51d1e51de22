"""Sora watermark remover: detection, matte estimation, restoration (pure NumPy/OpenCV/PyAV).

Public API::

    remove_watermark(input_path, output_path, *, progress=None, max_seconds=600.0,
                     max_pixels=4096 * 4096) -> RemovalReport
"""

from vidgate.watermark.pipeline import RemovalReport, remove_watermark

__all__ = ["RemovalReport", "remove_watermark"]
