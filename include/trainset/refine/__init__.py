"""The refine stage (정제): measure, judge (GX), de-identify, rename, resize, store in the warehouse.

Modules: ``exif`` (header metadata), ``measure`` (the one-decode measurement gate), ``dedup`` (perceptual-hash
index), ``render`` (the output image), ``batch`` (the stage over the records DB), ``local`` (the CLI path).
"""
